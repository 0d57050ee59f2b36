"""Does an evidence document agree with itself, and with the history line written when its run ended?

A pack rewritten by hand can keep its hashes right (and, unsigned, its manifest too) yet tell two
stories: a summary that says passed over a scenario marked slo_breached, a timeline that runs
backwards, scenarios shuffled out of the order they ran in. Every disagreement is reported, not
only the first.
"""
from __future__ import annotations

from typing import Any

from reports import after_action, controls

Document = dict[str, Any]
UNORDERED = ("evidence-v1",)  # schema versions whose writer did not sort (``order_checked``)
OUTCOMES = ("passed", "slo_breached", "experiment_broken", "infrastructure_unavailable")


def _ordered(values: list[float]) -> int | None:
    """The index of the first value smaller than the one before it, or None."""
    return next((i for i in range(1, len(values)) if values[i] < values[i - 1]), None)


def _scenario(s: dict[str, Any], label: str, ordered: bool) -> list[str]:
    # order is judged on t_s, the monotonic clock: wall time may step (NTP) during a legitimate run
    problems = []
    verdict, outcome = s.get("verdict"), s.get("outcome")
    if outcome == "passed" and (verdict is None or not verdict.get("passed")):
        problems.append(f"{label}: outcome passed, but its verdict {'is missing' if verdict is None else 'failed'}")
    if outcome == "slo_breached" and (verdict is None or verdict.get("passed")):
        problems.append(f"{label}: outcome slo_breached, but its verdict {'is missing' if verdict is None else 'passed'}")
    if not ordered:
        return problems
    events = s["timeline"]["events"]
    if (i := _ordered([e["t_s"] for e in events])) is not None:
        problems.append(f"{label}: timeline out of order: event {i} ({events[i]['kind']} {events[i]['name']!r}) at "
                        f"t={events[i]['t_s']} s comes after t={events[i - 1]['t_s']} s")
    for kind, samples in s["samples"].items():
        if (i := _ordered([x["t_s"] for x in samples])) is not None:
            problems.append(f"{label}: {kind} samples out of order at sample {i} (t={samples[i]['t_s']} s)")
    if (i := _ordered([m["t_s"] for m in s["milestones"]])) is not None:
        problems.append(f"{label}: milestones out of order at {s['milestones'][i]['name']!r}")
    return problems


def order_checked(document: Document) -> bool:
    """Whether the writer of ``document`` kept every list in time order: the evidence-v1 writer did not sort
    timeline events, milestones, canary attempts or scenarios, so their order proves nothing there."""
    return document["schema_version"] not in UNORDERED


def _controls(document: Document) -> list[str]:
    problems = []
    for control in document["controls"]:
        listed = [(entry["scenario"], entry["status"]) for entry in control["scenarios"]]
        expected = [(s["scenario"], controls.status(s, control["id"])) for s in document["scenarios"]]
        if listed != expected:
            problems.append(f"controls {control['id']}: lists (scenario, status) {listed}, but the scenarios say "
                            f"{expected}")
    return problems


def _after_action(document: Document) -> list[str]:
    """The deficiencies recomputed from each scenario, and each follow-up's status from the outcomes."""
    problems = []
    section = document["after_action"]
    expected = {d["key"] for s in document["scenarios"] for d in after_action.deficiencies(s)}
    listed = {d["key"] for d in section["deficiencies"]}
    if missing := sorted(expected - listed):
        problems.append(f"after_action.deficiencies lacks {missing}, which the scenarios' results show")
    if extra := sorted(listed - expected):
        problems.append(f"after_action.deficiencies lists {extra}, which the scenarios' results do not show")
    tested = {s["scenario"] for s in document["scenarios"] if s["outcome"] in after_action.JUDGED}
    for entry in section["follow_up"]:
        status = "fixed" if entry["scenario"] in tested else "not re-tested"
        if entry["key"] in expected:
            problems.append(f"after_action.follow_up {entry['key']} is {entry['status']!r}, "
                            f"but this run found it again")
        elif entry["status"] != status:
            problems.append(f"after_action.follow_up {entry['key']} is {entry['status']!r}, but the scenario's outcome "
                            f"says {status!r}")
    return problems


def check(document: Document) -> list[str]:
    """Every internal inconsistency of ``document`` (schema-valid), as sentences naming the field."""
    problems = []
    ordered = order_checked(document)
    scenarios, summary = document["scenarios"], document["summary"]
    counts = {o: sum(1 for s in scenarios if s["outcome"] == o) for o in OUTCOMES}
    if summary["scenarios"] != len(scenarios):
        problems.append(f"summary.scenarios is {summary['scenarios']}, but the pack holds {len(scenarios)} scenarios")
    for outcome, count in counts.items():
        if summary[outcome] != count:
            problems.append(f"summary.{outcome} is {summary[outcome]}, but {count} scenario(s) have outcome {outcome}")
    passed_all = bool(scenarios) and counts["passed"] == len(scenarios)
    if summary["passed_all"] != passed_all:
        problems.append(f"summary.passed_all is {str(summary['passed_all']).lower()}, but the scenarios' outcomes say "
                        f"{str(passed_all).lower()} ({', '.join(f'{n} {o}' for o, n in counts.items() if n)})")
    for index, s in enumerate(scenarios):
        problems += _scenario(s, f"scenarios[{index}] {s['scenario']}", ordered)
    starts = [s["timeline"]["started"]["wall_time"] for s in scenarios]
    if ordered and (i := _ordered(starts)) is not None:
        problems.append(f"scenarios out of order: scenarios[{i}] {scenarios[i]['scenario']} started before "
                        f"scenarios[{i - 1}] {scenarios[i - 1]['scenario']}; a pack lists them in the order they ran")
    problems += _controls(document)
    if "after_action" in document:  # evidence-v1 had none
        problems += _after_action(document)
    return problems


def against_history(document: Document, record: dict[str, Any]) -> list[str]:
    """Where ``document`` disagrees with the history line its run wrote (``reports.history.record``)."""
    problems = []
    if record.get("passed_all") != document["summary"]["passed_all"]:
        problems.append(f"history.jsonl recorded passed_all={record.get('passed_all')}, evidence.json says "
                        f"{document['summary']['passed_all']}")
    recorded = [(s.get("scenario"), s.get("outcome")) for s in record.get("scenarios", [])]
    present = [(s["scenario"], s["outcome"]) for s in document["scenarios"]]
    if recorded != present:
        problems.append(f"history.jsonl recorded scenarios {recorded}, evidence.json holds {present}")
    if "deficiencies" in record and "after_action" in document:  # records and packs from before either say nothing
        kept = sorted(d["key"] for d in document["after_action"]["deficiencies"])
        if sorted(record["deficiencies"]) != kept:
            problems.append(f"history.jsonl recorded deficiencies {sorted(record['deficiencies'])}, evidence.json "
                            f"holds {kept}")
    if "signing_key_fingerprint" in record:
        key = document["run"].get("signing") or {}
        named = None if key.get("error") else key.get("key_fingerprint")
        if record["signing_key_fingerprint"] != named:
            problems.append(f"history.jsonl recorded the pack as signed by "
                            f"{record['signing_key_fingerprint'] or 'nobody'}, evidence.json says {named or 'unsigned'}")
    return problems
