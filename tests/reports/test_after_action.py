"""The after-action section: deficiencies from the results, owners from the findings file, follow-up across runs."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reports import after_action, document as document_, evidence, findings
from experiments.result import ScenarioResult
from tests.reports import synthetic

FINDINGS = """\
findings:
  - id: DR-142
    scenario: az_outage
    deficiency: lost_orders
    owner: Orders team (J. Doe)
    remediation: Synchronous commit before acknowledging an order
    due: 2025-06-30
  - id: DR-143
    scenario: az_outage
    deficiency: rto_breached
    owner: Platform team
    remediation: Health checks every 10 s instead of 30 s
    due: 2026-03-31
"""


def az_outage_fixed() -> ScenarioResult:
    """The AZ outage after the remediation: a short outage, no order lost."""
    inject = 4.0
    return synthetic.build("az_outage", 80.0, "network.isolate_az", ("acl-0f9e8d7c6b5a",), inject, 34.0,
                           outage=lambda v, t: v == "virginia" and inject + 0.3 <= t < inject + 1.5,
                           region_at=lambda v, t: synthetic.VANTAGES[v], title="AZ outage", rollback_s=30.0)


def test_findings_file_problems_name_file_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "findings" / "local.yaml"
    path.parent.mkdir()
    path.write_text("""\
findings:
  - id: DR-1
    scenario: az_outage
    deficiency: slow
    owner: Ops
    remediation: x
    due: next week
  - id: DR-1
    scenario: az_outage
    deficiency: lost_orders
    remediation: y
    due: 2025-01-01
    severity: high
""")
    with pytest.raises(findings.FindingsFileError) as caught:
        findings.load(path)
    message = str(caught.value)
    assert f"{path}: findings[0].deficiency: 'slow' is not a deficiency kind; allowed: rto_breached" in message
    assert f"{path}: findings[0].due: 'next week' is not a date; expected YYYY-MM-DD" in message
    assert f"{path}: findings[1].owner: required but missing" in message
    assert f"{path}: findings[1].severity: unknown key" in message
    path.write_text(FINDINGS + FINDINGS.split("\n", 1)[1])
    with pytest.raises(findings.FindingsFileError, match=r"findings\[2\]: id 'DR-142' is used by findings\[0\]"):
        findings.load(path)
    path.write_text(FINDINGS.replace("    owner: Platform team\n", "    owner: Platform team\n    owner: SRE\n"))
    with pytest.raises(findings.FindingsFileError, match=r"findings\[1\]\.owner: given twice \(line 11 and line 12\)"):
        findings.load(path)
    path.write_text("- just a list\n")
    with pytest.raises(findings.FindingsFileError, match="expected a mapping with the key 'findings'"):
        findings.load(path)
    assert findings.load(tmp_path / "none.yaml") is None
    assert findings.path_for(Path("environments/local.yaml")) == Path("environments/findings/local.yaml")


def test_deficiencies_owners_and_follow_up_across_runs(tmp_path: Path) -> None:
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "local.yaml").write_text(FINDINGS)
    team = findings.load(tmp_path / "findings" / "local.yaml")
    out, history_path = tmp_path / "out", tmp_path / "history.jsonl"

    def pack(run_id: str, *scenarios: ScenarioResult) -> dict:
        run = synthetic.run(scenarios=scenarios, run_id=run_id)
        written = evidence.write_pack(run, out, history_path, findings=team)
        return json.loads((written.directory / "evidence.json").read_text())["after_action"]

    first = pack("run-1", synthetic.az_outage())
    found = {d["kind"]: d for d in first["deficiencies"]}
    assert set(found) == {"rto_breached", "rpo_breached", "lost_orders"}
    assert found["lost_orders"]["measured"].startswith("1 of ") and found["lost_orders"]["objective"] == "≤ 0 lost"
    assert found["lost_orders"]["finding"] == {"id": "DR-142", "owner": "Orders team (J. Doe)", "due": "2025-06-30",
                                               "remediation": "Synchronous commit before acknowledging an order",
                                               "overdue": True}  # the run ended on 2025-10-09
    assert found["rto_breached"]["finding"]["overdue"] is False
    assert found["rpo_breached"]["finding"] is None  # nobody owns it yet
    assert all(d["runs"] == 1 and d["first_seen"] == "run-1" for d in first["deficiencies"])
    report = (out / "run-1" / "report.html").read_text()
    section = report[report.index("After action"):report.index("Controls evidenced")]
    assert "Orders team (J. Doe)" in section and "overdue" in section and "no owner" in section

    second = pack("run-2", synthetic.az_outage())
    assert {(d["kind"], d["first_seen"], d["runs"]) for d in second["deficiencies"]} == {
        ("rto_breached", "run-1", 2), ("rpo_breached", "run-1", 2), ("lost_orders", "run-1", 2)}

    other = pack("run-3", synthetic.route53_failover())  # the AZ outage not run: still open, not re-tested
    assert other["deficiencies"] == []
    assert {(f["key"], f["status"], f["last_seen"]) for f in other["follow_up"]} == {
        ("az_outage/rto_breached", "not re-tested", "run-2"), ("az_outage/rpo_breached", "not re-tested", "run-2"),
        ("az_outage/lost_orders", "not re-tested", "run-2")}

    broken = synthetic.broken_region_evacuation()  # the AZ outage scenario broke: it tested nothing
    broken = dataclasses.replace(broken, scenario="az_outage")
    assert {f["status"] for f in pack("run-3b", broken)["follow_up"]} == {"not re-tested"}

    fixed = pack("run-4", az_outage_fixed())
    assert fixed["deficiencies"] == []
    statuses = {f["key"]: (f["status"], f["last_seen"]) for f in fixed["follow_up"]}
    assert statuses == {"az_outage/rto_breached": ("fixed", "run-2"), "az_outage/rpo_breached": ("fixed", "run-2"),
                        "az_outage/lost_orders": ("fixed", "run-2")}
    report = (out / "run-4" / "report.html").read_text()
    assert "No deficiency: every objective was met" in report and "fixed: not found by this run" in report

    after = pack("run-5", az_outage_fixed())  # fixed stays fixed; the findings file still lists them
    assert {f["key"]: f["last_seen"] for f in after["follow_up"]} == {
        "az_outage/rto_breached": None, "az_outage/lost_orders": None}


def test_a_fault_left_injected_is_a_deficiency(synthetic_run) -> None:
    scenario = document_.scenario(synthetic.route53_failover())
    assert after_action.deficiencies(scenario) == []
    scenario["rollback"]["status"] = "not rolled back"
    (found,) = after_action.deficiencies(scenario)
    assert found["kind"] == "not_rolled_back"
    assert found["measured"] == "fault route53.fail_health_check: not rolled back"
