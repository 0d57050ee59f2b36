"""`verify` reads the pack as well as hashing it: a pack that tells two stories fails, even with a fresh manifest."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reports import consistency, document as document_, evidence
from reports.run import Run
from tests.reports import synthetic
from tests.reports.conftest import only_pack
from tests.reports.test_signing import forge


def reverse_timeline(document: dict[str, Any]) -> None:
    events = document["scenarios"][1]["timeline"]["events"]
    events.reverse()


def reorder_scenarios(document: dict[str, Any]) -> None:
    scenarios = document["scenarios"]
    scenarios[0], scenarios[2] = scenarios[2], scenarios[0]
    for control in document["controls"]:  # a careful editor keeps the controls table in step
        control["scenarios"][0], control["scenarios"][2] = control["scenarios"][2], control["scenarios"][0]


def breached_but_summary_passed(document: dict[str, Any]) -> None:
    # the case: a scenario marked slo_breached while the summary says it passed
    document["scenarios"][0]["outcome"] = "slo_breached"


def passed_but_verdict_failed(document: dict[str, Any]) -> None:
    breached = next(s for s in document["scenarios"] if s["outcome"] == "slo_breached")
    breached["outcome"] = "passed"
    document["summary"]["passed"] += 1
    document["summary"]["slo_breached"] -= 1


@pytest.mark.parametrize("edit, expected", [
    (reverse_timeline, "multi_az_failover: timeline out of order: event 1"),
    (reorder_scenarios, "scenarios out of order: scenarios[1] multi_az_failover started before scenarios[0] az_outage"),
    (breached_but_summary_passed, "summary.passed is 2, but 1 scenario(s) have outcome passed"),
    (passed_but_verdict_failed, "az_outage: outcome passed, but its verdict failed"),
])
def test_an_inconsistent_pack_fails_even_with_a_fresh_manifest(reports_dir: Path, edit: Any, expected: str) -> None:
    pack = forge(reports_dir, edit)  # evidence.json edited, MANIFEST.sha256 recomputed, history.jsonl removed
    result = evidence.verify(pack)
    assert not result.ok
    assert any(expected in p for p in result.problems), result.message


def test_every_disagreement_is_reported(synthetic_run: Run) -> None:
    document = document_.build(synthetic_run)
    assert consistency.check(document) == []
    breached_but_summary_passed(document)
    document["summary"]["passed_all"] = True
    problems = consistency.check(document)
    assert any("summary.passed is 2, but 1" in p for p in problems)
    assert any("summary.slo_breached is 1, but 2" in p for p in problems)
    assert any("summary.passed_all is true, but the scenarios' outcomes say false" in p for p in problems)
    assert any("route53_failover: outcome slo_breached, but its verdict passed" in p for p in problems)


def test_the_pack_lists_scenarios_in_the_order_they_ran(synthetic_run: Run) -> None:
    shuffled = [document_.scenario(r) for r in reversed(synthetic_run.scenarios)]
    document = document_.build(synthetic_run, shuffled)  # xdist workers hand them over in any order
    starts = [s["timeline"]["started"]["wall_time"] for s in document["scenarios"]]
    assert starts == sorted(starts)
    assert consistency.check(document) == []


def test_history_that_disagrees_with_the_pack_is_named(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    history_path = reports_dir / "history.jsonl"
    text = history_path.read_text()
    history_path.write_text(text.replace('"outcome":"slo_breached"', '"outcome":"passed"', 1))
    result = evidence.verify(pack)
    assert any("history.jsonl recorded scenarios" in p for p in result.problems), result.message


def test_verify_says_when_it_could_not_cross_check_history(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    (reports_dir / "history.jsonl").unlink()
    result = evidence.verify(pack)
    assert result.ok
    assert "! history not cross-checked: no history.jsonl beside the pack" in result.message
    other = reports_dir / "other.jsonl"
    other.write_text("")
    result = evidence.verify(pack, history_path=other)
    assert f"! history not cross-checked: {other} has no record of {pack.name}" in result.message


def test_events_stamped_by_racing_threads_are_written_in_time_order(synthetic_run: Run) -> None:
    # Timeline.record takes the time before it takes the lock: two threads can append out of time order
    result = synthetic.route53_failover()
    events = result.timeline._events  # noqa: SLF001 - the race's outcome, reproduced exactly
    events[1], events[2] = events[2], events[1]
    scenario = document_.scenario(result)
    times = [e["t_s"] for e in scenario["timeline"]["events"]]
    assert times == sorted(times)
    assert consistency.check(document_.build(synthetic_run, [scenario])) == []


def drop_lost_orders(document: dict[str, Any]) -> None:
    section = document["after_action"]
    section["deficiencies"] = [d for d in section["deficiencies"] if d["kind"] != "lost_orders"]


def lost_orders_marked_fixed(document: dict[str, Any]) -> None:
    drop_lost_orders(document)
    document["after_action"]["follow_up"].append({"key": "az_outage/lost_orders", "scenario": "az_outage",
                                                  "kind": "lost_orders", "last_seen": None, "status": "fixed",
                                                  "finding": None})


def untested_marked_fixed(document: dict[str, Any]) -> None:
    # region_evacuation never reached its stack: it tested nothing, so fixed nothing
    document["after_action"]["follow_up"].append({"key": "region_evacuation/rto_breached",
                                                  "scenario": "region_evacuation", "kind": "rto_breached",
                                                  "last_seen": "earlier", "status": "fixed", "finding": None})


def finding_shown_as_met(document: dict[str, Any]) -> None:
    entry = next(e for c in document["controls"] for e in c["scenarios"] if e["status"] == "finding")
    entry["status"] = "met"


@pytest.mark.parametrize("edit, expected", [
    (drop_lost_orders, "after_action.deficiencies lacks ['az_outage/lost_orders'], which the scenarios' results show"),
    (lost_orders_marked_fixed, "after_action.follow_up az_outage/lost_orders is 'fixed', but this run found it again"),
    (untested_marked_fixed, "after_action.follow_up region_evacuation/rto_breached is 'fixed', but the scenario's "
                            "outcome says 'not re-tested'"),
    (finding_shown_as_met, "lists (scenario, status)"),
])
def test_an_edited_after_action_or_control_status_fails(reports_dir: Path, edit: Any, expected: str) -> None:
    pack = forge(reports_dir, edit)
    result = evidence.verify(pack)
    assert any(expected in p for p in result.problems), result.message


def test_history_whose_deficiencies_disagree_is_named(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    history_path = reports_dir / "history.jsonl"
    (record,) = [json.loads(line) for line in history_path.read_text().splitlines()]
    assert "az_outage/lost_orders" in record["deficiencies"]
    record["deficiencies"].remove("az_outage/lost_orders")
    history_path.write_text(json.dumps(record) + "\n")
    result = evidence.verify(pack)
    assert any("history.jsonl recorded deficiencies" in p and "az_outage/lost_orders" in p
               for p in result.problems), result.message


def as_evidence_v1(document: dict[str, Any]) -> None:
    """What the evidence-v1 writer left: no after-action or signing, and lists in the order they were appended."""
    document["schema_version"] = "evidence-v1"
    del document["after_action"], document["run"]["signing"], document["run"]["slos"]["percentile_method"]
    for scenario in document["scenarios"]:
        scenario.pop("traces", None)  # nor trace evidence
    reverse_timeline(document)
    reorder_scenarios(document)
    document["scenarios"][0]["samples"]["canary"].reverse()


def test_an_evidence_v1_pack_and_a_v2_pack_chained_to_it_verify(reports_dir: Path) -> None:
    old = forge(reports_dir, as_evidence_v1)
    result = evidence.verify(old)
    assert result.ok, result.message
    assert f"{old.name}: evidence-v1 pack: the order of its timeline, milestones, samples and scenarios is not " \
           f"checked (that writer did not sort them)" in result.notes
    new = evidence.write_pack(synthetic.run(run_id="after-v1"), reports_dir / "out", reports_dir / "history.jsonl")
    assert new.previous_run_id == old.name
    chained = evidence.verify(new.directory)
    assert chained.ok and chained.packs_checked == ("after-v1", old.name), chained.message


def test_an_evidence_v1_pack_still_gets_its_other_checks(reports_dir: Path) -> None:
    def summary_lies(document: dict[str, Any]) -> None:
        breached_but_summary_passed(document)
        as_evidence_v1(document)

    result = evidence.verify(forge(reports_dir, summary_lies))
    assert any("summary.passed is 2, but 1 scenario(s) have outcome passed" in p
               for p in result.problems), result.message
