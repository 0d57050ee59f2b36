"""How checker results become a health check's status (Route 53's documented health-check rules). Pure.

- Each checker keeps its own verdict, which changes only after FailureThreshold consecutive results
  that disagree with it, in either direction. A new checker's verdict is healthy: a new check is
  healthy until it has data.
- An endpoint check is healthy while more than 18% of its checkers say healthy.
- CALCULATED: healthy while at least HealthThreshold children are healthy (0: always; more than the
  children: never). A child's status is its final status, so a disabled child counts healthy.
- Disabled: always healthy, whatever Inverted says. Inverted: the status flipped (so a new inverted
  check starts unhealthy).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Callable, Iterable

from stack.local.route53.healthcheck import CheckType, HealthCheckSpec

HEALTHY_FRACTION = 0.18


@dataclass(frozen=True)
class ProbeResult:
    """One request from one checker: did it pass, and AWS's text for what happened."""

    success: bool
    status: str


@dataclass(frozen=True)
class Observation:
    """What GetHealthCheckStatus reports for one checker."""

    region: str
    ip_address: str
    success: bool
    status: str
    checked_at: datetime.datetime


@dataclass(frozen=True)
class CheckerState:
    """One checker's verdict and the number of consecutive results that disagree with it."""

    healthy: bool = True
    streak: int = 0

    def observe(self, success: bool, failure_threshold: int) -> "CheckerState":
        if success == self.healthy:
            return CheckerState(self.healthy, 0)
        if self.streak + 1 >= failure_threshold:
            return CheckerState(success, 0)
        return CheckerState(self.healthy, self.streak + 1)


def checkers_healthy(states: Iterable[CheckerState]) -> bool:
    """True while more than 18% of checkers report healthy (no checker yet: healthy, no data)."""
    states = list(states)
    if not states:
        return True
    return sum(s.healthy for s in states) / len(states) > HEALTHY_FRACTION


def status(spec: HealthCheckSpec, checkers: Iterable[CheckerState], child_status: Callable[[str], bool | None]) -> bool:
    """The check's final status; ``child_status`` gives a child's, or None when the child does not exist."""
    if spec.disabled:
        return True
    if spec.check_type is CheckType.CALCULATED:
        healthy_children = sum(1 for child in spec.children if child_status(child) is True)
        raw = healthy_children >= spec.health_threshold
    elif spec.check_type.is_endpoint:
        raw = checkers_healthy(checkers)
    else:
        # CLOUDWATCH_METRIC and RECOVERY_CONTROL have no data source here: "healthy until it has data".
        raw = True
    return raw != spec.inverted
