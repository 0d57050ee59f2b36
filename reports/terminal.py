"""The end-of-run summary in the terminal: one row per scenario, the verdict, where the report is.

Rendered with rich. When stdout is not a TTY (CI logs, `| tee`), there are no colour or control
codes, only plain text and box-drawing characters.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, JustifyMethod
from rich.table import Table

from reports.document import Document

STYLE = {"passed": "bold green", "slo_breached": "bold red", "experiment_broken": "bold yellow",
         "infrastructure_unavailable": "bold magenta"}


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} s"


def _measured(figure: dict[str, Any]) -> str:
    """An RTO or RPO cell: "—" when not measured, "unknown" when measured without an answer."""
    if not figure:
        return "—"
    return "unknown" if figure.get("aws_s") is None else _seconds(figure["aws_s"])


def _lost(rpo: dict[str, Any], data_integrity: dict[str, Any] | None) -> str:
    """Lost orders; with orders the read-back could not read, the count found is only a lower bound."""
    if not rpo:
        return "—"
    unread = len((data_integrity or {}).get("unreadable", []))
    return f"{rpo['lost_orders']} ({unread} unread)" if unread else str(rpo["lost_orders"])


def table(document: Document) -> Table:
    grid = Table(title=f"gameday run {document['run']['run_id']}  ·  {document['run']['environment']['name']}  ·  "
                       f"account {document['run']['environment']['account_id']}", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("scenario", "left"), ("fault", "left"), ("RTO", "right"), ("RTO SLO", "right"),
        ("RPO", "right"), ("lost orders", "right"), ("rollback", "left"), ("verdict", "left"))
    for column, justify in columns:
        grid.add_column(column, justify=justify, no_wrap=column not in ("rollback",))
    for s in document["scenarios"]:
        verdict: dict[str, Any] = s["verdict"] or {}
        rto, rpo, slo = verdict.get("rto") or {}, verdict.get("rpo") or {}, verdict.get("slo") or {}
        grid.add_row(s["scenario"], s["fault"]["name"].replace(", ", "\n"), _measured(rto),
                     _seconds(slo.get("rto_s")), _measured(rpo),
                     _lost(rpo, s["data_integrity"]), s["rollback"]["status"],
                     f"[{STYLE[s['outcome']]}]{s['outcome'].replace('_', ' ').upper()}[/]")
    return grid


def render(document: Document, report: Path | None = None, manifest_sha256: str | None = None,
           color: bool | None = None, width: int | None = None) -> str:
    """The summary as text; ``color`` None means "only if stdout is a terminal"."""
    if color is None:
        color = sys.stdout.isatty()
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, color_system="standard" if color else None,
                      width=width or (None if color else 120), highlight=False, emoji=False)
    console.print(table(document))
    for s in document["scenarios"]:
        for message in (s["verdict"] or {}).get("messages", []) or ([s["error"]] if s["error"] else []):
            console.print(f"  {s['scenario']}: {message}", markup=False, soft_wrap=True)
        for m in (s["verdict"] or {}).get("measured", []):  # figures judged beside RTO and RPO
            objective = "not judged" if m["slo_s"] is None else f"SLO {m['name']} <= {m['slo_s']:g} s"
            console.print(f"  {s['scenario']}: {m['title']}: {_seconds(m['aws_s'])} ({objective})",
                          markup=False, soft_wrap=True)
    summary = document["summary"]
    overall = "[bold green]PASSED[/]" if summary["passed_all"] else "[bold red]FAILED[/]"
    console.print(f"{overall}  {summary['passed']} of {summary['scenarios']} scenarios passed")
    if report is not None:
        console.print(f"report:   {report}", markup=False, soft_wrap=True)  # never break a path people copy
    if manifest_sha256:
        console.print(f"manifest: sha256 {manifest_sha256} (`gameday verify {report.parent if report else '<pack>'}`)",
                      markup=False, soft_wrap=True)
        key = document["run"].get("signing")
        failed = bool(key and key.get("error"))
        console.print(f"signed:   NO: signing with {key['key_fingerprint']} failed: {key['error']}" if failed
                      else f"signed:   {key['key_fingerprint']} ({key['method']})" if key else
                      "signed:   no (unsigned pack: no signing key configured, see docs/evidence.md)",
                      markup=False, soft_wrap=True)
    deficiencies = (document.get("after_action") or {}).get("deficiencies", [])
    if deficiencies:
        unowned = sum(1 for d in deficiencies if d["finding"] is None)
        console.print(f"after action: {len(deficiencies)} deficiency(ies), {unowned} without an owner in the findings file",
                      markup=False, soft_wrap=True)
    return buffer.getvalue()


def print_summary(document: Document, report: Path | None = None, manifest_sha256: str | None = None,
                  stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(render(document, report, manifest_sha256, color=stream.isatty()))
    stream.flush()
