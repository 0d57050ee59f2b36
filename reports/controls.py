"""The audit controls a DR rehearsal evidences, and which result evidences which.

The mapping is this project's proposal, stated so an auditor can check it: each control names the
property of a scenario result that evidences it. A scenario that broke before its verdict evidences
nothing; a breached SLO still evidences that the test was performed, as a finding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Scenario = dict[str, Any]  # a scenario of the evidence document (schema evidence-v1)


@dataclass(frozen=True)
class Control:
    id: str
    framework: str
    title: str
    requirement: str  # paraphrased, not quoted
    evidenced_by: str  # which part of a result evidences it
    applies: Callable[[Scenario], bool]


def _judged(s: Scenario) -> bool:
    return s["verdict"] is not None


def _exercised(s: Scenario) -> bool:
    """Judged, with a fault injected: a steady-state check (Lab 1) tests no recovery or switchover."""
    return _judged(s) and s["fault"]["name"] != "none"


def _recovered(s: Scenario) -> bool:
    return (_judged(s) and s["verdict"]["rto"] is not None and s["verdict"]["rto"]["aws_s"] is not None
            and s["rollback"]["status"] in ("rolled back", "not injected"))


def _data_checked(s: Scenario) -> bool:
    return _judged(s) and s["verdict"]["rpo"] is not None


CONTROLS = (
    Control("SOC2-A1.3", "SOC 2 (TSC 2017)", "A1.3 Recovery plan testing",
            "Recovery plan procedures supporting system recovery are tested to meet objectives.",
            "the measured RTO/RPO against the declared objective", _exercised),
    Control("SOC2-CC7.5", "SOC 2 (TSC 2017)", "CC7.5 Recovery from identified incidents",
            "Activities to recover from identified incidents are developed and carried out.",
            "the fault's detection, the recovery measured from samples, and the completed rollback", _recovered),
    Control("ISO27001-A.5.30", "ISO/IEC 27001:2022", "A.5.30 ICT readiness for business continuity",
            "ICT readiness is planned, implemented, maintained and tested against continuity objectives.",
            "the failover exercised on the live architecture with its RTO/RPO against objectives", _exercised),
    Control("DORA-Art.11", "DORA (EU 2022/2554)", "Art. 11 Response and recovery",
            "ICT business continuity and response and recovery plans are tested, including switchover to redundant capacity.",
            "the switchover (failover) scenario, its timeline and its verdict", _exercised),
    Control("DORA-Art.12", "DORA (EU 2022/2554)", "Art. 12 Backup, restoration and recovery",
            "Backup, restoration and recovery procedures are in place and tested, limiting data loss.",
            "the canary read-back: acknowledged writes lost (RPO) after recovery", _data_checked),
    Control("PCI-12.10.2", "PCI DSS v4.0", "12.10.2 Incident response plan tested",
            "The incident response plan, including business recovery and continuity procedures, is tested at least every 12 months.",
            "the rehearsal's detection, response and recovery on the timeline", _recovered),
)
BY_ID = {control.id: control for control in CONTROLS}


def evidenced(scenario: Scenario) -> list[str]:
    """The control ids this scenario evidences: its own list when the experiment gave one, else the rules."""
    if scenario.get("controls_declared"):
        return [c for c in scenario["controls_declared"] if c in BY_ID]
    return [control.id for control in CONTROLS if control.applies(scenario)]


def status(scenario: Scenario, control_id: str) -> str:
    """"met", "finding" (tested, objective not met) or "not evidenced"."""
    if control_id not in scenario["controls"]:
        return "not evidenced"
    return "met" if scenario["outcome"] == "passed" else "finding"
