"""reports/history.jsonl: one line per run, appended atomically, read for RTO/RPO trends.

Concurrent runs on one machine may finish together: each record is written by ONE ``write`` on an
``O_APPEND`` descriptor while holding an exclusive ``flock``, then fsynced, so lines never
interleave and a crash leaves at worst a partial last line, which ``read`` skips and reports.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from base import files
from base.errors import GamedayError
from reports import filelock

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.table import Table

Document = dict[str, Any]  # reports.document.Document, without importing the schema machinery

RECORD_SCHEMA = "gameday-history-v1"
DEFAULT_PATH = Path(__file__).resolve().parent / "history.jsonl"
# What every record has held since the first version, and what the table, the charts and the next pack read.
RECORD_KEYS = ("run_id", "environment", "account_id", "commit", "dirty", "scenarios")
SCENARIO_KEYS = ("scenario", "outcome", "passed", "rto_aws_s", "rto_slo_s", "rpo_aws_s", "rpo_slo_s", "lost_orders")


class HistoryError(GamedayError):
    """The history file could not be read or written."""


@dataclass(frozen=True)
class History:
    records: tuple[dict[str, Any], ...]  # oldest first
    problems: tuple[str, ...]  # unreadable lines, named by number


def record(document: Document, pack: Path, manifest_sha256: str, previous_run_id: str | None) -> dict[str, Any]:
    """The history line of a run: enough for trends and for cross-checking the pack's manifest."""
    run = document["run"]
    key = run.get("signing") or {}
    scenarios = []
    for s in document["scenarios"]:
        verdict = s["verdict"] or {}
        rto, rpo, slo = verdict.get("rto") or {}, verdict.get("rpo") or {}, verdict.get("slo") or {}
        scenarios.append({"scenario": s["scenario"], "outcome": s["outcome"], "passed": s["outcome"] == "passed",
                          "rto_aws_s": rto.get("aws_s"), "rto_slo_s": slo.get("rto_s"),
                          "rpo_aws_s": rpo.get("aws_s"), "rpo_slo_s": slo.get("rpo_s"),
                          "lost_orders": rpo.get("lost_orders"), "lost_orders_slo": slo.get("lost_orders")})
    return {"schema": RECORD_SCHEMA, "run_id": run["run_id"], "ended_at": run["window"]["ended_at"],
            "environment": run["environment"]["name"], "account_id": run["environment"]["account_id"],
            "commit": run["code"]["commit"], "dirty": run["code"]["dirty"], "operator": run["operator"],
            "pack": str(pack), "manifest_sha256": manifest_sha256, "previous_run_id": previous_run_id,
            "passed_all": document["summary"]["passed_all"], "scenarios": scenarios,
            # deficiency keys (scenario/kind) for the after-action follow-up of later runs
            "deficiencies": [d["key"] for d in (document.get("after_action") or {}).get("deficiencies", [])],
            # the key the pack is signed with (None: unsigned, or signing failed): verify compares it with
            # evidence.json, so a removed signature is caught even when run.signing was rewritten too
            "signing_key_fingerprint": None if key.get("error") else key.get("key_fingerprint")}


def append(path: Path, entry: dict[str, Any]) -> None:
    """Append one record atomically with respect to other writers (see module docstring)."""
    line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
    with filelock.exclusive(path.with_name(path.name + ".lock")):
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(descriptor, line)
            if written != len(line):  # a regular file takes it whole unless the disk is full
                raise OSError(f"{path}: short write ({written} of {len(line)} bytes); the disk may be full")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def read(path: Path = DEFAULT_PATH) -> History:
    """Every well-formed record, oldest first; malformed lines are skipped and named in ``problems``."""
    if not path.exists():
        return History((), ())
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        raise HistoryError(f"{path}: cannot read the history file: {error.strerror}; give the history.jsonl a game "
                           f"day appends to (reports/history.jsonl beside reports/out)") from None
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{path}:{number}: not JSON ({error.msg}); skipped")
            continue
        if not isinstance(entry, dict) or entry.get("schema") != RECORD_SCHEMA:
            problems.append(f"{path}:{number}: not a {RECORD_SCHEMA} record; skipped")
            continue
        if missing := _missing(entry):
            problems.append(f"{path}:{number}: a {RECORD_SCHEMA} record without {', '.join(missing)}; skipped")
            continue
        records.append(entry)
    return History(tuple(records), tuple(problems))


def _missing(entry: dict[str, Any]) -> list[str]:
    """The keys ``entry`` lacks (``scenarios[2].passed`` for a scenario's), or what is not a list or mapping."""
    missing = [key for key in RECORD_KEYS if key not in entry]
    scenarios = entry.get("scenarios", [])
    if not isinstance(scenarios, list):
        return [*missing, "scenarios as a list"]
    for index, scenario in enumerate(scenarios):
        if not isinstance(scenario, dict):
            missing.append(f"scenarios[{index}] as a mapping")
        else:
            missing += [f"scenarios[{index}].{key}" for key in SCENARIO_KEYS if key not in scenario]
    return missing


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def table(records: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> Table:
    """A rich Table: one row per (scenario, run), newest run last, RTO/RPO against SLO."""
    from rich.table import Table

    grid = Table(title="RTO/RPO trends per scenario (AWS-equivalent seconds)", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("scenario", "left"), ("run", "left"), ("commit", "left"), ("RTO s", "right"), ("RTO SLO", "right"),
        ("RPO s", "right"), ("RPO SLO", "right"), ("lost", "right"), ("verdict", "left"))
    for column, justify in columns:
        grid.add_column(column, justify=justify, no_wrap=column in ("scenario", "run"))
    names = sorted({s["scenario"] for r in records for s in r["scenarios"]})
    for name in names:
        for index, (run, s) in enumerate((r, s) for r in records for s in r["scenarios"] if s["scenario"] == name):
            verdict = "[green]passed[/]" if s["passed"] else f"[red]{s['outcome'].replace('_', ' ')}[/]"
            grid.add_row(name if index == 0 else "", run["run_id"], run["commit"][:8] + ("*" if run["dirty"] else ""),
                         _seconds(s["rto_aws_s"]), _seconds(s["rto_slo_s"]), _seconds(s["rpo_aws_s"]),
                         _seconds(s["rpo_slo_s"]), "—" if s["lost_orders"] is None else str(s["lost_orders"]), verdict)
        grid.add_section()
    return grid


def render_text(path: Path = DEFAULT_PATH, last: int = 20, color: bool | None = None, width: int = 130) -> str:
    """The terminal table of the last ``last`` runs; plain text when ``color`` is False or output is not a TTY."""
    from rich.console import Console

    history = read(path)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=color is False, width=width,
                      color_system="standard" if color else None)
    if not history.records:
        console.print(f"no runs recorded in {path} yet: a game day (`make gameday`) appends one per run")
    else:
        console.print(table(history.records[-last:]))
    for problem in history.problems:
        console.print(f"warning: {problem}")
    return buffer.getvalue()


def render_html(path: Path = DEFAULT_PATH, last: int = 20) -> str:
    """A standalone HTML page with one RTO/RPO trend chart per scenario."""
    from reports import html

    records = list(read(path).records[-last:])
    content = html.trends(records) or "<p>No runs recorded yet.</p>"
    return html.page("RTO/RPO trends", content)


def command(path: Path = DEFAULT_PATH, html_out: Path | None = None, last: int = 20) -> int:
    """`gameday report --history [--html FILE] [--last N]`: print the table, optionally write the chart page.

    The page is written before the table is printed, so a bad --html stops the command with nothing printed.
    """
    import sys

    text = render_text(path, last, color=sys.stdout.isatty() or None)
    if html_out is not None:
        if where := "is a directory" if html_out.is_dir() else files.directory_problem(html_out):
            raise HistoryError(f"--html {html_out}: {where}; give an HTML file to write in an existing directory")
        try:
            files.write_text(html_out, render_html(path, last))
        except OSError as error:
            raise HistoryError(f"--html {html_out}: cannot write it: {error.strerror}") from None
    print(text, end="")
    if html_out is not None:
        print(f"trend charts: {html_out}")
    return 0
