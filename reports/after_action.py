"""The after-action section: each deficiency a run found, its owner, remediation and due date, and follow-up.

This is what an after-action report holds (NIST SP 800-84) and DORA Art. 11 asks of ICT
business-continuity testing: measured against objective, each deficiency, who fixes it, how and by
when, and whether earlier deficiencies were fixed. Deficiencies are read from the evidence document
(never typed in); owners and remediation come from the team's findings file (``reports.findings``);
follow-up comes from history.jsonl: a deficiency open at the last run that tested its scenario is
"fixed" when this run tested the scenario (reached a verdict) and did not find it, "not re-tested"
otherwise: a scenario that broke or could not reach its stack tested nothing.
"""
from __future__ import annotations

from typing import Any, Iterable

from reports.findings import Findings

Document = dict[str, Any]
JUDGED = ("passed", "slo_breached")  # a broken experiment or an unreachable stack tested nothing


def _objective(slo: dict[str, Any], field: str, unit: str) -> str:
    return f"≤ {slo[field]:,.0f} {unit}"


def deficiencies(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The deficiencies of one scenario document: (kind, measured, objective, detail)."""
    found = []
    verdict = scenario["verdict"]
    if verdict is not None:
        slo, rto, rpo = verdict["slo"], verdict["rto"], verdict["rpo"]
        if rto is not None and slo["rto_s"] is not None and (rto["aws_s"] is None or rto["aws_s"] > slo["rto_s"]):
            found.append(("rto_breached", "not recovered" if rto["aws_s"] is None else f"RTO {rto['aws_s']:,.0f} s",
                          "RTO " + _objective(slo, "rto_s", "s")))
        if rpo is not None and slo["rpo_s"] is not None and rpo["aws_s"] is None:
            unreadable = len((scenario.get("data_integrity") or {}).get("unreadable", []))
            found.append(("rpo_breached", f"RPO unknown: {unreadable} of {rpo['acknowledged']} acknowledged orders "
                          "could not be read back", "RPO " + _objective(slo, "rpo_s", "s")))
        elif rpo is not None and slo["rpo_s"] is not None and rpo["aws_s"] > slo["rpo_s"]:
            found.append(("rpo_breached", f"RPO {rpo['aws_s']:,.0f} s", "RPO " + _objective(slo, "rpo_s", "s")))
        if rpo is not None and slo["lost_orders"] is not None and rpo["lost_orders"] > slo["lost_orders"]:
            found.append(("lost_orders", f"{rpo['lost_orders']} of {rpo['acknowledged']} acknowledged orders lost",
                          f"≤ {slo['lost_orders']} lost"))
        if not verdict["passed"] and not found:  # a steady-state objective (latency, routing)
            found.append(("slo_breached", "; ".join(verdict["messages"]) or "verdict failed", "steady state holds"))
    status = scenario["rollback"]["status"]
    if status not in ("rolled back", "not injected"):
        found.append(("not_rolled_back", f"fault {scenario['fault']['name']}: {status}", "every fault rolled back"))
    return [{"key": f"{scenario['scenario']}/{kind}", "scenario": scenario["scenario"], "kind": kind,
             "measured": measured, "objective": objective} for kind, measured, objective in found]


def _open_before(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deficiency key -> {first_seen, last_seen, runs} for those still open at the last run that tested their scenario."""
    open_: dict[str, dict[str, Any]] = {}
    for record in records:
        if "deficiencies" not in record:
            continue  # a record from before deficiencies were kept says nothing either way
        tested = {s["scenario"] for s in record["scenarios"] if s.get("outcome") in JUDGED}
        present = set(record["deficiencies"])
        for key in list(open_):
            if key.split("/")[0] in tested and key not in present:
                del open_[key]
        for key in present:
            entry = open_.setdefault(key, {"first_seen": record["run_id"], "runs": 0})
            entry["last_seen"] = record["run_id"]
            entry["runs"] += 1
    return open_


def _finding(findings: Findings | None, key: str, ended_on: str) -> dict[str, Any] | None:
    entry = findings.for_key(key) if findings else None
    if entry is None:
        return None
    return {"id": entry.id, "owner": entry.owner, "remediation": entry.remediation, "due": entry.due.isoformat(),
            "overdue": entry.due.isoformat() < ended_on}


def build(document: Document, findings: Findings | None, history_records: Iterable[dict[str, Any]],
          findings_path: str | None) -> dict[str, Any]:
    """The ``after_action`` object of the evidence document (schema evidence-v2)."""
    ended_on = document["run"]["window"]["ended_at"][:10]
    run_id = document["run"]["run_id"]
    earlier = _open_before(history_records)
    current = []
    for scenario in document["scenarios"]:
        for deficiency in deficiencies(scenario):
            seen = earlier.get(deficiency["key"])
            current.append({**deficiency, "first_seen": seen["first_seen"] if seen else run_id,
                            "runs": (seen["runs"] if seen else 0) + 1,
                            "finding": _finding(findings, deficiency["key"], ended_on)})
    keys = {d["key"] for d in current}
    tested = {s["scenario"] for s in document["scenarios"] if s["outcome"] in JUDGED}
    follow_up_keys = set(earlier) | {f.key for f in (findings.entries if findings else ())}
    follow_up = []
    for key in sorted(follow_up_keys - keys):
        scenario, kind = key.split("/", 1)
        seen = earlier.get(key)
        follow_up.append({"key": key, "scenario": scenario, "kind": kind,
                          "last_seen": seen["last_seen"] if seen else None,
                          "status": "fixed" if scenario in tested else "not re-tested",
                          "finding": _finding(findings, key, ended_on)})
    return {"findings_file": findings_path, "deficiencies": current, "follow_up": follow_up}
