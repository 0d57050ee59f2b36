"""The report's edge section (reports/edge.py): the figures an edge experiment recorded, labelled."""
from __future__ import annotations

from reports import edge


def test_edge_figures_are_a_labelled_table_and_absent_without_them() -> None:
    events = [{"name": "probes started", "details": {}},
              {"name": "edge figures", "details": {"asset_hit_ratio": 0.9899, "asset_origin_requests": 4,
                                                   "failed_over_latencies_aws_s": [14.91, 11.97], "waf_blocked": 12,
                                                   "measured_at": 1.0}}]
    section = edge.html(events)
    assert "<h3>Edge</h3>" in section
    assert "asset hit ratio (X-Cache: Hit)</td><td class=\"num\">0.9899" in section
    assert "asset requests that reached the origin (origin load)</td><td class=\"num\">4" in section
    assert "14.91, 11.97" in section and "waf_blocked" in section and "measured_at" not in section
    assert edge.html(events[:1]) == ""
