"""What an experiment hands to reports: one scenario's fault, timeline, samples and verdict.

A ``ScenarioResult`` holds the real objects the experiment worked with (``Timeline``, ``Sample``,
``Verdict``, the canary's ``Ack``/``Attempt``/``ReadBack``); ``reports.document`` turns it into the
evidence schema. Nothing here measures or judges: RTO and RPO come from ``probes.slo``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from base.errors import StackError
from base.timeline import Timeline
from probes.canary import Ack, Attempt, ReadBack
from probes.catalog import Seen
from probes.checkout import Response
from probes.dns import Answer
from probes.sampler import Sample
from probes.slo import Verdict
from probes.traces import TraceEvidence

# Outcomes, also the Allure categories (see reports.allure_results.CATEGORIES).
PASSED = "passed"
SLO_BREACHED = "slo_breached"
EXPERIMENT_BROKEN = "experiment_broken"
INFRASTRUCTURE_UNAVAILABLE = "infrastructure_unavailable"
OUTCOMES = (PASSED, SLO_BREACHED, EXPERIMENT_BROKEN, INFRASTRUCTURE_UNAVAILABLE)

# Exception names that mean "the thing under test could not be reached", not "the experiment is wrong".
_INFRASTRUCTURE_ERRORS = ("StackError", "StackNotRunning", "EndpointConnectionError", "ConnectionRefusedError",
                          "ConnectTimeoutError", "NoCredentialsError", "ExpiredToken")


def error_kind(error: BaseException) -> str:
    """Classify an exception that stopped an experiment before its verdict."""
    if isinstance(error, StackError) or type(error).__name__ in _INFRASTRUCTURE_ERRORS:
        return INFRASTRUCTURE_UNAVAILABLE
    return EXPERIMENT_BROKEN


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario of a run, as evidence. ``verdict`` is None when the experiment broke before judging."""

    scenario: str  # the SLO key in the environment, e.g. "multi_az_failover"
    title: str  # what a person reads, e.g. "Lab 3: Multi-AZ RDS reboot with failover"
    fault: str  # e.g. "rds.reboot_with_failover"
    targets: tuple[str, ...]  # ARNs or ids the fault changed
    timeline: Timeline
    verdict: Verdict | None
    dns: tuple[Sample[Answer], ...] = ()  # source = vantage point
    checkout: tuple[Sample[Response], ...] = ()  # source = vantage point
    canary_attempts: tuple[Attempt, ...] = ()
    canary_acks: tuple[Ack, ...] = ()
    read_back: ReadBack | None = None
    traces: TraceEvidence | None = None  # X-Ray's view of the fault window (Scenario.bottleneck)
    controls: tuple[str, ...] | None = None  # None: derived from the result by reports.controls
    runbook: str = ""  # URL or path#anchor of the runbook section this scenario rehearses
    markers: tuple[str, ...] = ()
    nodeid: str = ""
    error: str = ""  # why the experiment stopped without a verdict
    error_kind: str = ""  # EXPERIMENT_BROKEN or INFRASTRUCTURE_UNAVAILABLE when error is set
    severity: str = "critical"  # Allure severity: blocker, critical, normal, minor, trivial
    catalog: tuple[Sample[Seen], ...] = ()  # source = vantage point: the product as it was shown there

    @property
    def outcome(self) -> str:
        if self.verdict is None or self.error:
            return self.error_kind or EXPERIMENT_BROKEN
        return PASSED if self.verdict.passed else SLO_BREACHED

    @property
    def rollback_status(self) -> str:
        """From the timeline: "rolled back", "rollback failed: …", "not rolled back" or "not injected"."""
        injected = self.timeline.of_kind("fault_injected")
        failed = self.timeline.of_kind("fault_rollback_failed")
        rolled = self.timeline.of_kind("fault_rolled_back")
        if failed:
            return f"rollback failed: {failed[-1].details.get('error', '')}".rstrip(": ")
        if not injected:
            return "not injected"
        if len(rolled) < len(injected):
            return "not rolled back"
        return "rolled back"

    @property
    def api_calls(self) -> list[dict[str, Any]]:
        """The fault's API calls as the timeline recorded them (api_call events, then the fault's own)."""
        return [event.to_dict() for event in self.timeline
                if event.kind in ("api_call", "fault_injected", "fault_rolled_back", "fault_rollback_failed")]
