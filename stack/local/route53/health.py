"""How checker results become a health check's status (Route 53's documented health-check rules). Pure.

- Each checker keeps its own verdict, which changes only after FailureThreshold consecutive results
  that disagree with it, in either direction. A new checker's verdict is healthy: a new check is
  healthy until it has data.
- An endpoint check is healthy while more than 18% of its checkers say healthy.
- CALCULATED: healthy while at least HealthThreshold children are healthy (0: always; more than the
  children: never). A child's status is its final status, so a disabled child counts healthy.
- CLOUDWATCH_METRIC: follows its alarm: unhealthy in ALARM, healthy in OK; in INSUFFICIENT_DATA (or
  while the alarm does not exist) as InsufficientDataHealthStatus says: Healthy, Unhealthy, or
  LastKnownStatus (the status it had; healthy when it never had one).
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


def alarm_status(alarm_state: str | None, insufficient_data: str, last_known: bool) -> bool:
    """A CLOUDWATCH_METRIC check's status (before Inverted) for its alarm's state (None: no such alarm)."""
    if alarm_state == "ALARM":
        return False
    if alarm_state == "OK":
        return True
    if insufficient_data == "Healthy":
        return True
    if insufficient_data == "Unhealthy":
        return False
    return last_known


def status(spec: HealthCheckSpec, checkers: Iterable[CheckerState], child_status: Callable[[str], bool | None],
           metric_healthy: bool = True) -> bool:
    """The check's final status; ``child_status`` gives a child's, or None when the child does not exist;
    ``metric_healthy``: a CLOUDWATCH_METRIC check's ``alarm_status``."""
    if spec.disabled:
        return True
    if spec.check_type is CheckType.CALCULATED:
        healthy_children = sum(1 for child in spec.children if child_status(child) is True)
        raw = healthy_children >= spec.health_threshold
    elif spec.check_type.is_endpoint:
        raw = checkers_healthy(checkers)
    elif spec.check_type is CheckType.CLOUDWATCH_METRIC:
        raw = metric_healthy
    else:
        # RECOVERY_CONTROL has no data source here: "healthy until it has data".
        raw = True
    return raw != spec.inverted
