"""The edge tier's figures in the report: what an edge experiment recorded as its "edge figures" timeline event.

Hit ratio and origin load are counted by the experiment from the edges' ``X-Cache`` headers; failover
times are AWS-equivalent seconds. Keys this module does not know are shown as they were recorded, so
another edge experiment can add its own figures without a change here.
"""
from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

EVENT = "edge figures"
LABELS = {
    "failover_budget_aws_s": "failover budget: ConnectionAttempts x ConnectionTimeout (AWS s)",
    "usual_api_latency_aws_s": "API request through the edge before the fault, median (AWS s)",
    "failed_over_requests": "API requests answered by the secondary origin",
    "failed_over_p50_aws_s": "failed-over API request, median (AWS s)",
    "failed_over_max_aws_s": "failed-over API request, worst (AWS s)",
    "failed_over_latencies_aws_s": "failed-over API requests (AWS s)",
    "asset_hit_ratio": "asset hit ratio (X-Cache: Hit)",
    "asset_requests": "asset requests answered",
    "asset_origin_requests": "asset requests that reached the origin (origin load)",
    "api_requests": "API requests answered",
    "api_origin_requests": "API requests that reached the origin group (origin load)",
}
HIDDEN = frozenset({"measured_at"})


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(_value(v) for v in value)
    return escape("" if value is None else str(value))


def html(events: Sequence[Mapping[str, Any]]) -> str:
    """The scenario's edge figures as a table; "" when it recorded none."""
    found = [e for e in events if e.get("name") == EVENT and isinstance(e.get("details"), Mapping)]
    if not found:
        return ""
    rows = []
    for event in found:
        for key, value in event["details"].items():
            if key not in HIDDEN:
                rows.append(f"<tr><td>{escape(LABELS.get(key, key))}</td><td class=\"num\">{_value(value)}</td></tr>")
    return ("<h3>Edge</h3><table><thead><tr><th>Figure</th><th class=\"num\">Value</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
