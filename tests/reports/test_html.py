"""report.html: self-contained, and rendered by headless Chromium with its charts and tables."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from reports import browser
from tests.reports.conftest import only_pack

needs_chromium = pytest.mark.skipif(browser.chromium() is None,
                                    reason="headless Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def report(pack_root: Path) -> Path:
    return only_pack(pack_root / "out") / "report.html"


def test_the_report_is_one_self_contained_file(report: Path) -> None:
    html = report.read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report must open offline"
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert html.count("<svg") == 3 * 3  # timeline, DNS and latency for each of the three judged scenarios


def test_the_report_states_what_an_auditor_asks_for(report: Path) -> None:
    html = report.read_text()
    for text in ("Disaster-recovery test report", "123456789012", "Operator", "Window (UTC)", "Code version",
                 "SOC 2 (TSC 2017)", "A1.3 Recovery plan testing", "CC7.5", "ISO/IEC 27001:2022", "A.5.30",
                 "Art. 11", "Art. 12", "PCI DSS v4.0", "12.10.2", "Sign-off", "Settings in force",
                 "arn:aws:rds:us-east-1:123456789012:db:orders", "RTO 215 s &gt; 180 s SLO",
                 "Acknowledged orders missing after recovery", "StackNotRunning"):
        assert text in html, text


def test_the_report_names_each_failover_bottleneck_from_the_traces(report: Path, pack_root: Path) -> None:
    html = report.read_text()
    for text in ("Traces (X-Ray) in the fault window", "Slowest traces", "Service graph",
                 "during the Multi-AZ failover, 80% of checkout latency was spent re-resolving and reconnecting to the "
                 "database (7200 of 9000 ms over 40 traced requests)",
                 "postgres@orders.c0ffee.us-east-1.rds.amazonaws.com", "reconnect 2,700 ms (93%)"):
        assert text in html, text
    evidence = json.loads((only_pack(pack_root / "out") / "evidence.json").read_text())
    (traced,) = [s for s in evidence["scenarios"] if "traces" in s]
    assert traced["traces"]["bottleneck"] == {"bucket": "reconnect", "share": 0.8}


@needs_chromium
def test_chromium_renders_charts_and_tables(report: Path, tmp_path: Path) -> None:
    dom = browser.dump_dom(report)
    assert len(re.findall(r"<svg\b", dom)) == 9
    assert len(re.findall(r"<table\b", dom)) >= 1 + 1 + 3 * 4  # summary, controls, per scenario: RTO/RPO, milestones, latency, canary
    assert 'id="scenario-az_outage"' in dom
    png = browser.screenshot(report, tmp_path / "first-screen.png", 1280, 2000)
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (1280, 2000)
    assert png.stat().st_size > 50_000  # a blank page compresses to a few kB


def test_without_matplotlib_each_chart_says_which_extra_draws_it(report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The core (AWS-path) install has no matplotlib: the report must still be written, saying what is missing.
    import reports
    from reports import html as html_

    document = json.loads((report.parent / "evidence.json").read_text())
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "reports.charts", raising=False)
    monkeypatch.delattr(reports, "charts", raising=False)
    rendered = html_.render(document)
    assert "<svg" not in rendered
    assert rendered.count("Chart not drawn: the charts need matplotlib") == 3 * 3
    assert "pip install &#x27;gameday[charts]&#x27;" in rendered
