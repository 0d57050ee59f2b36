"""junit.xml and the terminal summary, both from the pack's evidence."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from reports import terminal
from tests.reports.conftest import only_pack


def test_junit_has_a_case_per_scenario_with_failures_and_errors(pack_root: Path) -> None:
    root = ET.parse(only_pack(pack_root / "out") / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    cases = {case.get("classname"): case for case in suite.iter("testcase")}
    assert set(cases) == {"gameday.route53_failover", "gameday.multi_az_failover", "gameday.az_outage",
                          "gameday.region_evacuation"}
    failure = cases["gameday.az_outage"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("RTO 215 s > 180 s SLO")
    assert cases["gameday.region_evacuation"].find("error") is not None
    assert cases["gameday.multi_az_failover"].find("failure") is None


def test_terminal_summary_is_plain_when_piped(pack_root: Path) -> None:
    pack = only_pack(pack_root / "out")
    document = json.loads((pack / "evidence.json").read_text())
    text = terminal.render(document, pack / "report.html", "ab" * 32, color=False)
    assert "\x1b[" not in text
    for expected in ("route53_failover", "SLO BREACHED", "FAILED  2 of 4 scenarios passed", str(pack / "report.html"),
                     "RTO 215 s > 180 s SLO"):
        assert expected in text, expected
    assert "\x1b[" in terminal.render(document, pack / "report.html", color=True)
