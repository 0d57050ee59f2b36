"""The audit report: ONE self-contained HTML file rendered from the (redacted) evidence document.

No script, no external stylesheet, font or image: charts are inline SVG, so the file opens offline,
prints, and can be archived as is. Every value is escaped.
"""
from __future__ import annotations

import functools
from html import escape
from types import ModuleType
from typing import Any, Callable, Iterable

from base.timescale import TimeScale
from reports import chartsupport, edge, traces
from reports.document import Document

OUTCOME_TEXT = {"passed": "PASSED", "slo_breached": "SLO BREACHED", "experiment_broken": "EXPERIMENT BROKEN",
                "infrastructure_unavailable": "INFRASTRUCTURE UNAVAILABLE"}
CONTROL_TEXT = {"met": "✔ met", "finding": "▲ finding", "not evidenced": "—"}

CSS = """
:root{--ink:#1c2430;--muted:#5f6b7a;--line:#d9dee5;--bg:#f6f7f9;--ok:#2e7d32;--bad:#c62828;--warn:#ef6c00;--accent:#1565c0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:28px 32px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:6px;border-bottom:2px solid var(--ink)}
h3{font-size:15px;margin:22px 0 8px}
.sub{color:var(--muted);margin:0 0 18px}
.cover{display:grid;grid-template-columns:1fr auto;gap:24px;align-items:start;border-bottom:1px solid var(--line);padding-bottom:18px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:700;font-size:12px;letter-spacing:.03em;
color:#fff;white-space:nowrap}
.badge.passed{background:var(--ok)}.badge.slo_breached{background:var(--bad)}.badge.experiment_broken{background:#6d4c41}
.badge.infrastructure_unavailable{background:#546e7a}.badge.big{font-size:18px;padding:10px 18px;border-radius:8px}
dl.facts{display:grid;grid-template-columns:170px 1fr;gap:4px 16px;margin:12px 0 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;font-weight:500}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:var(--bad);font-weight:600}.ok{color:var(--ok);font-weight:600}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
section.scenario{border-top:1px solid var(--line);margin-top:30px;padding-top:6px}
.messages{background:#fdecea;border-left:4px solid var(--bad);padding:8px 12px;margin:8px 0}
.messages.note{background:#eef1f5;border-left-color:#546e7a}
.chart{margin:6px 0 14px;overflow-x:auto}.chart svg{max-width:100%;height:auto}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.muted{color:var(--muted)}.small{font-size:12px}
.sign td{height:42px}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
@media print{body{background:#fff}main{padding:0}section.scenario{page-break-before:always}}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _s(value: float | None, unit: str = "s", digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f} {unit}"


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: Iterable[int] = (), cls: str = "") -> str:
    numeric = set(numeric)
    head = "".join(f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                   for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _badge(outcome: str, big: bool = False) -> str:
    return f'<span class="badge {_e(outcome)}{" big" if big else ""}">{OUTCOME_TEXT.get(outcome, _e(outcome))}</span>'


def _anchor(scenario: dict[str, Any]) -> str:
    return f"scenario-{scenario['scenario']}"


def _measured_cell(s: dict[str, Any], kind: str) -> tuple[str, str] | None:
    """The first measured figure of ``kind`` ("rto", "rpo") as a summary cell: what the catalog experiments
    judge in place of an RTO or RPO."""
    verdict = s["verdict"]
    found = [m for m in (verdict or {}).get("measured", []) if m["kind"] == kind]
    if not found:
        return None
    m = found[0]
    value = "never reached" if m["aws_s"] is None else f'{m["aws_s"]:,.1f} s'
    return f'{value}<div class="muted small">{_e(m["title"])}</div>', "ok" if m["passed"] else "bad"


def _measured_table(s: dict[str, Any]) -> str:
    rows = []
    for m in (s["verdict"] or {}).get("measured", []):
        value = ("—" if m["slo_s"] is None else "never reached") if m["aws_s"] is None else f'{m["aws_s"]:,.1f} s'
        wall = "" if m["wall_s"] is None else f'<div class="muted small">{m["wall_s"]:.2f} s wall</div>'
        objective = "shown, not judged" if m["slo_s"] is None else f'≤ {m["slo_s"]:,.0f} s <span class="mono">{_e(m["name"])}</span>'
        cls = "ok" if m["passed"] else "bad"
        rows.append([_e(m["title"]), f'<span class="{cls}">{value}</span>{wall}', objective, _e(m["detail"])])
    if not rows:
        return ""
    return "<h3>Measured against the SLOs</h3>" + _table(
        ["Measure", "Measured (AWS-equivalent)", "Objective", "How it was measured"], rows)


def _catalog(s: dict[str, Any]) -> str:
    """What each vantage point was shown of the product over time: only the samples where it changed."""
    samples = s["samples"].get("catalog") or []
    if not samples:
        return ""
    scale = TimeScale(s["timeline"]["time_scale"])
    rows: list[list[str]] = []
    last: dict[str, tuple[Any, ...]] = {}
    for sample in samples:
        value = sample["value"] or {}
        key = (sample["ok"], value.get("price_cents"), value.get("version"), value.get("write_id"), value.get("region"))
        if last.get(sample["source"]) == key:
            continue
        last[sample["source"]] = key
        seen = (f'{value.get("price_cents", 0) / 100:,.2f} · v{value.get("version")} · '
                f'<span class="mono">{_e(value.get("write_id"))}</span>') if sample["ok"] else \
            f'<span class="bad">{_e(sample["error"] or value.get("status"))}</span>'
        rows.append([f'<span class="mono">{_e(sample["iso"][11:23])}</span>', f'{scale.to_aws(sample["t_s"]):,.1f} s',
                     _e(sample["source"]), _e(value.get("region", "")), seen])
    return ("<h3>The catalog as each vantage point saw it</h3>"
            '<p class="muted small">GET /products/{sku} through checkout, from each vantage point; a row each time '
            f"what it was shown changed ({len(samples)} samples in all, in evidence.json).</p>"
            + _table(["Time (UTC)", "Since start (AWS-eq.)", "Vantage point", "Served by", "Price · version · write"],
                     rows, numeric=[1]))


def _rto(s: dict[str, Any]) -> tuple[str, str]:
    verdict = s["verdict"]
    if verdict is not None and verdict["rto"] is None and _measured_cell(s, "rto"):
        return _measured_cell(s, "rto") or ("—", "")
    if verdict is None or verdict["rto"] is None:
        return "—", ""
    aws = verdict["rto"]["aws_s"]
    text = "not recovered" if aws is None else f"{aws:,.0f} s"
    wall = "" if verdict["rto"]["wall_s"] is None else f'<div class="muted small">{verdict["rto"]["wall_s"]:.2f} s wall</div>'
    return text + wall, "bad" if aws is None or aws > verdict["slo"]["rto_s"] else "ok"


def _rpo(s: dict[str, Any]) -> tuple[str, str]:
    verdict = s["verdict"]
    if verdict is not None and verdict["rpo"] is None and _measured_cell(s, "rpo"):
        return _measured_cell(s, "rpo") or ("—", "")
    if verdict is None or verdict["rpo"] is None:
        return "—", ""
    rpo, slo = verdict["rpo"], verdict["slo"]
    if rpo["aws_s"] is None:  # acknowledged orders the read-back could not read: lost or not, nobody knows
        unreadable = len((s["data_integrity"] or {}).get("unreadable", []))
        return (f'unknown<div class="muted small">{unreadable} of {rpo["acknowledged"]} acknowledged orders could not '
                f'be read back; {rpo["lost_orders"]} found lost</div>'), "bad"
    cap = slo["lost_orders"]  # None: only the time-based RPO applies
    bad = rpo["aws_s"] > slo["rpo_s"] or (cap is not None and rpo["lost_orders"] > cap)
    return (f'{rpo["aws_s"]:,.0f} s<div class="muted small">{rpo["lost_orders"]} of {rpo["acknowledged"]} '
            f'acknowledged orders lost</div>'), "bad" if bad else "ok"


def _signing(key: dict[str, str] | None) -> str:
    if key is None:
        return '<span class="bad">unsigned</span> <span class="muted">(no signing key was configured: see docs/evidence.md)</span>'
    if key.get("error"):
        return (f'<span class="bad">unsigned</span> <span class="muted">(signing with <span class="mono">'
                f'{_e(key["key_fingerprint"])}</span> failed: {_e(key["error"])})</span>')
    return (f'<span class="mono">{_e(key["key_fingerprint"])}</span><div class="muted small">{_e(key["method"])}; '
            f'check with <code>gameday verify --key PUBLIC_KEY</code> or openssl (docs/evidence.md)</div>')


def _cover(document: Document) -> str:
    run, summary = document["run"], document["summary"]
    env, code, window = run["environment"], run["code"], run["window"]
    overall = ('<span class="badge passed big">PASSED</span>' if summary["passed_all"]
               else '<span class="badge slo_breached big">FAILED</span>')
    facts = [
        ("Scope", _e(run["scope"])),
        ("Environment", f'{_e(env["name"])} <span class="muted">({_e(env["kind"])}'
                        + (f', time scale {env["time_scale"]}: times shown are AWS-equivalent' if env["kind"] == "local" else "")
                        + ")</span>"),
        ("AWS account", f'<span class="mono">{_e(env["account_id"])}</span>'),
        ("Regions", _e(", ".join(env["regions"]))),
        ("Operator", f'{_e(run["operator"])} <span class="muted">on {_e(run["host"])}</span>'),
        ("Window (UTC)", f'{_e(window["started_at"][:19].replace("T", " "))} → {_e(window["ended_at"][11:19])} '
                         f'<span class="muted">({window["duration_s"]:,.0f} s)</span>'),
        ("Code version", f'<span class="mono">{_e(code["commit"][:12])}</span> {_e(code["branch"])}'
                         + (' <span class="badge slo_breached">uncommitted changes</span>' if code["dirty"] else "")),
        ("Run id", f'<span class="mono">{_e(run["run_id"])}</span>'),
        ("Evidence", f'evidence.json (schema {_e(document["schema_version"])}), junit.xml, MANIFEST.sha256'
                     + (", MANIFEST.dsse.json" if run.get("signing") and not run["signing"].get("error") else "")),
        ("Signed by", _signing(run.get("signing"))),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    tally = ", ".join(f"{summary[k]} {t.lower()}" for k, t in OUTCOME_TEXT.items() if summary[k])
    return (f'<div class="cover"><div><h1>Disaster-recovery test report</h1>'
            f'<p class="sub">SecureCart game day · {summary["scenarios"]} scenarios: {tally or "none"}</p>'
            f'<dl class="facts">{dl}</dl></div><div>{overall}</div></div>')


def _summary(document: Document) -> str:
    rows = []
    for s in document["scenarios"]:
        rto, rto_cls = _rto(s)
        rpo, rpo_cls = _rpo(s)
        slo = s["verdict"]["slo"] if s["verdict"] else None
        objectives = [] if slo is None else (
            ([] if slo["rto_s"] is None else [f'RTO ≤ {slo["rto_s"]:,.0f} s'])
            + ([] if slo["rpo_s"] is None else [f'RPO ≤ {slo["rpo_s"]:,.0f} s'
                                                + ("" if slo["lost_orders"] is None else f', ≤ {slo["lost_orders"]} lost')]))
        objectives += [f'{_e(m["name"])} ≤ {m["slo_s"]:,.0f} s' for m in (s["verdict"] or {}).get("measured", [])
                       if m["slo_s"] is not None and m["kind"]]
        slo_text = "<br>".join(dict.fromkeys(objectives)) or "—"
        rows.append([f'<a href="#{_anchor(s)}">{_e(s["title"])}</a><div class="muted small mono">{_e(s["scenario"])}</div>',
                     f'<span class="mono">{_e(s["fault"]["name"])}</span>',
                     f'<span class="{rto_cls}">{rto}</span>', f'<span class="{rpo_cls}">{rpo}</span>', slo_text,
                     _badge(s["outcome"])])
    return "<h2>Summary</h2>" + _table(["Scenario", "Fault", "RTO", "RPO", "SLO", "Verdict"], rows)


def _milestone_table(s: dict[str, Any]) -> str:
    injected = s["fault"]["injected"]
    scale = TimeScale(s["timeline"]["time_scale"])
    rows = []
    for m in s["milestones"]:
        offset = "" if injected is None else f"{scale.to_aws(m['t_s'] - injected['t_s']):+,.1f} s"
        rows.append([_e(m["name"]), f'<span class="mono">{_e(m["iso"][11:23])}</span>', offset, _e(m["basis"])])
    return _table(["Milestone", "Time (UTC)", "Since injection (AWS-eq.)", "How it was determined"], rows, numeric=[2])


def _latency_table(s: dict[str, Any], slo_ms: float | None, method: str) -> str:
    def ms(value: float | None, check: bool = False) -> str:
        if value is None:
            return "—"
        cls = ' class="bad"' if check and slo_ms and value > slo_ms else ""
        return f"<span{cls}>{value:,.1f}</span>"

    rows = [[_e(r["source"]), str(r["requests"]), str(r["failed"]), ms(r["p50_ms"]), ms(r["p95_ms"], True),
             ms(r["p99_ms"]), ms(r["max_ms"]), ms(r["steady_state_p95_ms"], True)] for r in s["latency"]]
    return _table(["Vantage point", "Requests", "Failed", "p50 ms", "p95 ms", "p99 ms", "max ms", "steady-state p95 ms"],
                  rows, numeric=range(1, 8)) + f'<p class="muted small">Percentiles by {_e(method)}.</p>'


def _canary(s: dict[str, Any]) -> str:
    data = s["data_integrity"]
    if data is None:
        return '<p class="muted">No order canary ran in this scenario.</p>'
    lost, unreadable = data["lost"], data["unreadable"]
    facts = _table(["Orders attempted", "Failed attempts", "Acknowledged", "Read back", "Lost acknowledged", "Unreadable"],
                   [[str(data["attempts"]), str(data["failed_attempts"]), str(data["acknowledged"]),
                     "yes" if data["read_back"] else "no",
                     f'<span class="{"bad" if lost else "ok"}">{len(lost)}</span>',
                     f'<span class="{"bad" if unreadable else "ok"}">{len(unreadable)}</span>']],
                   numeric=range(6))
    if not lost and not unreadable:
        return facts + '<p class="ok">Every acknowledged order was read back after recovery.</p>'
    parts = [facts]
    if lost:
        rows = [[str(o["sequence"]), f'<span class="mono">{_e(o["client_order_id"])}</span>', _e(o["order_id"]),
                 f'<span class="mono">{_e(o["acked_at"]["iso"][11:23])}</span>'] for o in lost[:50]]
        more = f'<p class="muted">… and {len(lost) - 50} more in evidence.json.</p>' if len(lost) > 50 else ""
        parts.append("<h3>Acknowledged orders missing after recovery</h3>" + _table(
            ["Sequence", "Client order id", "Order id", "Acknowledged at (UTC)"], rows, numeric=[0]) + more)
    if unreadable:
        rows = [[f'<span class="mono">{_e(order)}</span>', _e(why)]
                for order, _, why in (entry.partition(": ") for entry in unreadable[:50])]
        more = (f'<p class="muted">… and {len(unreadable) - 50} more in evidence.json.</p>'
                if len(unreadable) > 50 else "")
        parts.append("<h3>Acknowledged orders that could not be read back</h3>"
                     '<p class="bad">Lost or not, nobody knows: the RPO is unknown.</p>'
                     + _table(["Client order id", "Why"], rows) + more)
    return "".join(parts)


_ROLLBACK_CLASS = {"rolled back": "ok", "not injected": "muted"}  # anything else is a deficiency


def _scenario(s: dict[str, Any], slo_ms: float | None, method: str) -> str:
    parts = [f'<section class="scenario" id="{_anchor(s)}"><h2>{_e(s["title"])} {_badge(s["outcome"])}</h2>']
    runbook = f' · runbook: <a href="{_e(s["runbook"])}">{_e(s["runbook"])}</a>' if s["runbook"] else ""
    parts.append(f'<p class="sub mono">{_e(s["nodeid"] or s["scenario"])}{runbook}</p>')
    targets = "<br>".join(f'<span class="mono">{_e(t)}</span>' for t in s["fault"]["targets"]) or "—"
    facts = [("Fault", f'<span class="mono">{_e(s["fault"]["name"])}</span>'), ("Targets", targets),
             ("Rollback", f'<span class="{_ROLLBACK_CLASS.get(s["rollback"]["status"], "bad")}">'
                          f'{_e(s["rollback"]["status"])}</span>'),
             ("Controls evidenced", _e(", ".join(s["controls"])) or "none")]
    parts.append('<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")
    if s["error"]:
        parts.append(f'<div class="messages note"><b>Stopped before a verdict:</b> {_e(s["error"])}</div>')
    if s["verdict"] and s["verdict"]["messages"]:
        parts.append('<div class="messages">' + "<br>".join(_e(m) for m in s["verdict"]["messages"]) + "</div>")
    if s["verdict"] and (s["verdict"]["rto"] or s["verdict"]["rpo"] or not s["verdict"].get("measured")):
        rto, rto_cls = _rto(s)
        rpo, rpo_cls = _rpo(s)
        slo = s["verdict"]["slo"]
        parts.append(_table(["Measure", "Measured (AWS-equivalent)", "Objective"],
                            [["RTO", f'<span class="{rto_cls}">{rto}</span>',
                              "not measured" if slo["rto_s"] is None else f'≤ {slo["rto_s"]:,.0f} s'],
                             ["RPO", f'<span class="{rpo_cls}">{rpo}</span>',
                              "not measured" if slo["rpo_s"] is None else
                              f'≤ {slo["rpo_s"]:,.0f} s' + ("" if slo["lost_orders"] is None
                                                           else f' and ≤ {slo["lost_orders"]} lost orders')]]))
    if s["verdict"]:
        parts.append(_measured_table(s))
    parts.append(_catalog(s))
    has_samples = any(s["samples"][k] for k in ("checkout", "canary"))
    if has_samples:
        parts.append(f'<h3>Timeline</h3>{_chart(lambda charts: charts.timeline(s))}')
    if s["milestones"]:
        parts.append(_milestone_table(s))
    if s["samples"]["dns"]:
        parts.append(f'<h3>DNS answers per vantage point</h3>{_chart(lambda charts: charts.dns(s))}')
    if s["samples"]["checkout"]:
        parts.append(f'<h3>Checkout latency</h3>{_chart(lambda charts: charts.latency(s, slo_ms))}')
        parts.append(_latency_table(s, slo_ms, method))
    parts.append(_cloudwatch(s))
    parts.append(edge.html(s["timeline"]["events"]))
    parts.append("<h3>Order canary and data integrity</h3>" + _canary(s))
    parts.append(traces.html(s.get("traces")))
    parts.append("</section>")
    return "".join(parts)


def _cloudwatch(s: dict[str, Any]) -> str:
    """CloudWatch's view: per-Region latency graphs, the probe's figures next to CloudWatch's, and alarm history."""
    events = s["timeline"]["events"]
    series = next((e["details"]["cloudwatch_series"] for e in events if e["details"].get("cloudwatch_series")), None)
    compared = [e for e in events if "cloudwatch_p95_ms" in e["details"]]
    history = [e for e in events if e["details"].get("item_type") and e["details"].get("alarm")]
    if not (series or compared or history):
        return ""
    parts = ["<h3>CloudWatch</h3>"]
    if series:
        parts.append(_chart(lambda charts: charts.cloudwatch(s, series)))
    if compared:
        parts.append(_table(["Vantage point", "Region", "Probe p95 ms", "CloudWatch p95 ms"], [
            [_e(e["name"].removeprefix("checkout latency ")), _e(e["details"]["region"]), _s(e["details"]["p95_ms"], "", 1),
             _s(e["details"]["cloudwatch_p95_ms"], "", 1)] for e in compared], numeric=(2, 3)))
    if history:
        parts.append("<h4>Alarm history</h4>" + _table(["Time (UTC)", "Alarm", "Type", "Summary", "Reason"], [
            [_e(str(e["details"].get("at", ""))[11:23]), f'<span class="mono">{_e(e["details"]["alarm"])}</span>',
             _e(e["details"]["item_type"]), _e(e["name"].split(": ", 1)[-1]), _e(e["details"].get("reason", ""))]
            for e in history]))
    return "".join(parts)


KIND_TEXT = {"rto_breached": "RTO objective missed", "rpo_breached": "RPO objective missed",
             "lost_orders": "acknowledged orders lost", "not_rolled_back": "fault not rolled back",
             "slo_breached": "steady-state objective missed"}


def _owner(finding: dict[str, Any] | None, findings_file: str | None) -> list[str]:
    if finding is None:
        where = _e(findings_file) if findings_file else "the environment's findings file (docs/evidence.md)"
        return [f'<span class="bad">no owner</span><div class="muted small">add it to {where}</div>', "—", "—"]
    due = f'{_e(finding["due"])}' + (' <span class="bad">overdue</span>' if finding["overdue"] else "")
    return [f'{_e(finding["owner"])}<div class="muted small mono">{_e(finding["id"])}</div>',
            _e(finding["remediation"]), due]


def _after_action(document: Document) -> str:
    """NIST SP 800-84 after-action: deficiencies with owner, remediation and due date, then follow-up of earlier ones."""
    section = document.get("after_action")
    if section is None:
        return ""
    source = section["findings_file"]
    parts = ["<h2>After action: deficiencies and remediation</h2>",
             '<p class="muted small">Each deficiency this run found (measured against objective), with its owner, '
             'remediation and due date from ' + (f"<code>{_e(source)}</code>" if source else "the findings file (none found)")
             + ", and whether deficiencies found by earlier runs were fixed (from history.jsonl).</p>"]
    rows = []
    for d in section["deficiencies"]:
        since = ("new in this run" if d["runs"] == 1 else
                 f'open since <span class="mono">{_e(d["first_seen"])}</span> ({d["runs"]} runs)')
        rows.append([f'<b>{_e(KIND_TEXT[d["kind"]])}</b><div class="muted small mono">{_e(d["key"])}</div>',
                     f'<span class="bad">{_e(d["measured"])}</span><div class="muted small">objective '
                     f'{_e(d["objective"])}</div>', *_owner(d["finding"], source), since])
    parts.append(_table(["Deficiency", "Measured vs objective", "Owner", "Remediation", "Due", "Status"], rows)
                 if rows else '<p class="ok">No deficiency: every objective was met and every fault rolled back.</p>')
    if section["follow_up"]:
        rows = [[f'{_e(KIND_TEXT[f["kind"]])}<div class="muted small mono">{_e(f["key"])}</div>',
                 "—" if f["last_seen"] is None else f'<span class="mono">{_e(f["last_seen"])}</span>',
                 *_owner(f["finding"], source)[:1],
                 '<span class="ok">fixed: not found by this run</span>' if f["status"] == "fixed"
                 else '<span class="muted">not re-tested by this run</span>'] for f in section["follow_up"]]
        parts.append("<h3>Follow-up of earlier deficiencies and recorded findings</h3>"
                     + _table(["Deficiency", "Last found in run", "Owner", "This run"], rows))
    return "".join(parts)


def _controls(document: Document) -> str:
    scenarios = document["scenarios"]
    headers = ["Control", "Requirement (paraphrased)", "Evidenced by"] + [
        f'<a href="#{_anchor(s)}" class="mono">{_e(s["scenario"])}</a>' for s in scenarios]
    rows = []
    for c in document["controls"]:
        cells = []
        for entry in c["scenarios"]:
            cls = {"met": "ok", "finding": "bad"}.get(entry["status"], "muted")
            cells.append(f'<span class="{cls}">{CONTROL_TEXT[entry["status"]]}</span>')
        rows.append([f'<b>{_e(c["title"])}</b><div class="muted small">{_e(c["framework"])}</div>',
                     _e(c["requirement"]), _e(c["evidenced_by"]), *cells])
    note = ('<p class="muted small">"met": the scenario tested the control and met its objective; "finding": tested, '
            'objective not met (the test itself is evidence, the breach is a finding); "—": not evidenced by this '
            'scenario. The mapping is gameday\'s proposal for the auditor to confirm.</p>')
    return "<h2>Controls evidenced</h2>" + _table(headers, rows) + note


def _settings(document: Document) -> str:
    rows = [[f'<span class="mono">{_e(s["name"])}</span>', f'<span class="mono">{_e(s["value"])}</span>', _e(s["source"])]
            for s in document["run"]["settings"]]
    slos = document["run"]["slos"]
    return ("<h2>Settings in force</h2>" + _table(["Setting", "Value", "Source"], rows)
            + f'<p class="muted small">Checkout p95 latency SLO {_s(slos["checkout_p95_latency_ms"], "ms")}; '
              f'stability window {_s(slos["stability_window_s"])} (AWS-equivalent). Secrets are redacted.</p>')


def _chart(draw: Callable[[ModuleType], str]) -> str:
    """``draw(reports.charts)`` in a chart box, or, without matplotlib, a note saying how to get the chart."""
    charts = chartsupport.charts()
    if charts is None:
        return f'<p class="messages note">Chart not drawn: {_e(chartsupport.MISSING)}.</p>'
    return f'<div class="chart">{draw(charts)}</div>'


def _trend(history_runs: list[dict[str, Any]], name: str, charts: ModuleType) -> str:
    return str(charts.trend(history_runs, name))


def trends(history_runs: list[dict[str, Any]]) -> str:
    """RTO/RPO trend charts per scenario, from history records (oldest first)."""
    names = sorted({s["scenario"] for r in history_runs for s in r["scenarios"]})
    if not names:
        return ""
    body = "".join(_chart(functools.partial(_trend, history_runs, name)) for name in names)
    return (f'<h2>Trends across runs</h2><p class="muted small">The last {len(history_runs)} runs recorded in '
            f'reports/history.jsonl, oldest first.</p>{body}')


def _sign_off() -> str:
    rows = [[role, "", "", ""] for role in ("Game-day lead", "Service owner", "Risk / compliance reviewer")]
    return ("<h2>Sign-off</h2><p>I have reviewed this report and the evidence pack it belongs to "
            "(verified with <code>gameday verify</code>).</p>"
            + _table(["Role", "Name", "Signature", "Date"], rows, cls="sign"))


def warm(scenario: dict[str, Any], slo_ms: float | None) -> None:
    """Draw ``scenario``'s charts ahead of the report, which then copies them (``reports.charts`` remembers
    what it drew): an xdist controller does this while its workers still run."""
    _scenario(scenario, slo_ms, "nearest rank")  # the method only words the tables, not the charts


def render(document: Document, history_runs: list[dict[str, Any]] | None = None) -> str:
    """The whole report as one HTML string."""
    run = document["run"]
    slo_ms = run["slos"]["checkout_p95_latency_ms"]
    body = [_cover(document), _summary(document), _after_action(document), _controls(document)]
    method = run["slos"].get("percentile_method", "nearest rank")
    body += [_scenario(s, slo_ms, method) for s in document["scenarios"]]
    if history_runs:
        body.append(trends(history_runs))
    body += [_settings(document), _sign_off(),
             f'<footer>Generated by gameday from evidence.json of run {_e(run["run_id"])}. Check the pack and its chain '
             f'with <code>gameday verify reports/out/{_e(run["run_id"])}</code>.</footer>']
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>DR test report {_e(run["run_id"])}</title><style>{CSS}</style></head>'
            f'<body><main>{"".join(body)}</main></body></html>')


def page(title: str, content: str) -> str:
    """A standalone page in the report's style (``gameday report --history --html``)."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<style>{CSS}</style></head><body><main><h1>{_e(title)}</h1>{content}</main></body></html>')

