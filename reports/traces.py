"""X-Ray's view of a scenario's fault window in the evidence: as JSON, and as the report's section.

The JSON (evidence schema, optional ``traces`` of a scenario) keeps what the sentence was computed
from, so a reader can check it: every bucket's milliseconds, the slowest traces with their breakdown
and ids (to look up in X-Ray), and the service graph's edges.
"""
from __future__ import annotations

from dataclasses import asdict
from html import escape
from typing import Any

from probes.traces import TraceEvidence


def document(evidence: TraceEvidence) -> dict[str, Any]:
    found = evidence.bottleneck
    return {
        "label": evidence.label, "start": evidence.start_s, "end": evidence.end_s, "traces": evidence.traces,
        "total_ms": evidence.total_ms, "buckets_ms": dict(evidence.buckets_ms),
        "bottleneck": None if found is None else {"bucket": found[0], "share": round(found[1], 4)},
        "sentence": evidence.sentence, "unavailable": evidence.unavailable,
        "slowest": [{**asdict(t), "breakdown_ms": dict(t.breakdown_ms)} for t in evidence.slowest],
        "graph": [asdict(e) for e in evidence.graph],
    }


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _breakdown(parts: dict[str, float], total_ms: float) -> str:
    ordered = sorted(parts.items(), key=lambda item: -item[1])
    return ", ".join(f"{_e(k)} {v:,.0f} ms ({v / total_ms:.0%})" if total_ms else f"{_e(k)} {v:,.0f} ms"
                     for k, v in ordered)


def html(traces: dict[str, Any] | None) -> str:
    """The report's "Traces" section of one scenario ('' when the scenario collected none)."""
    if not traces:
        return ""
    parts = ["<h3>Traces (X-Ray) in the fault window</h3>",
             f'<div class="messages note"><b>Bottleneck:</b> {_e(traces["sentence"])}</div>']
    if traces["buckets_ms"]:
        parts.append(f'<p class="small">Where checkout\'s time went (wall clock), summed over {traces["traces"]} traced requests: '
                     f'{_breakdown(traces["buckets_ms"], traces["total_ms"])}.</p>')
    if traces["slowest"]:
        parts.append("<h3>Slowest traces</h3>" + _table(
            ["Trace id", "Region", "Request", "Response time", "Where the time went"],
            [[f'<span class="mono">{_e(t["trace_id"])}</span>', _e(t["region"]),
              _e(t["http"]) + (" <b>fault</b>" if t["fault"] else "") + (" <b>error</b>" if t["error"] else ""),
              f'{t["response_time_ms"]:,.1f} ms', _breakdown(t["breakdown_ms"], t["response_time_ms"])]
             for t in traces["slowest"]]))
    if traces["graph"]:
        parts.append("<h3>Service graph</h3>" + _table(
            ["Region", "From", "To", "Type", "Requests", "Faults", "Errors", "Mean"],
            [[_e(g["region"]), _e(g["source"]), f'<span class="mono">{_e(g["target"])}</span>', _e(g["target_type"]), str(g["requests"]),
              str(g["faults"]), str(g["errors"]), f'{g["mean_ms"]:,.1f} ms'] for g in traces["graph"]]))
    return "".join(parts)
