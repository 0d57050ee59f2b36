"""The moments a DR timeline is read by: fault injected, detection, failover, recovery, rolled back.

An experiment may mark a moment itself, which always wins::

    timeline.record("state", "health check us-east-1 unhealthy", milestone="detection")

Otherwise each is derived from the samples, and the evidence says how (``basis``):

- detection: the first failed probe sample after injection (when users first noticed);
- failover: the first DNS answer after injection that differs from that vantage point's last answer
  before it, else a state event whose name mentions failover;
- recovery: injection + the measured RTO (``probes.slo.rto``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from base import clock
from probes.sampler import Sample
from experiments.result import ScenarioResult

NAMES = ("fault injected", "detection", "failover", "recovery", "rolled back")


@dataclass(frozen=True)
class Milestone:
    name: str
    at: clock.Instant
    basis: str  # how it was found, for the auditor


def _explicit(result: ScenarioResult, name: str) -> Milestone | None:
    for event in result.timeline:
        if event.details.get("milestone") == name:
            return Milestone(name, event.at, f"{event.kind} event {event.name!r}")
    return None


def _first_failure(samples: Sequence[Sample[Any]], after: clock.Instant) -> Sample[Any] | None:
    failed = [s for s in samples if not s.ok and s.at.monotonic_s >= after.monotonic_s]
    return min(failed, key=lambda s: s.at.monotonic_s, default=None)


def _first_dns_change(result: ScenarioResult, after: clock.Instant) -> Sample[Any] | None:
    before: dict[str, tuple[str, ...]] = {}
    changes = []
    for sample in sorted(result.dns, key=lambda s: s.at.monotonic_s):
        addresses = sample.value.addresses if sample.ok and sample.value is not None else None
        if sample.at.monotonic_s < after.monotonic_s:
            if addresses is not None:
                before[sample.source] = addresses
        elif addresses is not None and sample.source in before and addresses != before[sample.source]:
            changes.append(sample)
            before[sample.source] = addresses
    return min(changes, key=lambda s: s.at.monotonic_s, default=None)


def find(result: ScenarioResult) -> list[Milestone]:
    """The milestones present in ``result``, in time order."""
    found: list[Milestone] = []
    injected = result.timeline.of_kind("fault_injected")
    start = _explicit(result, "fault injected") or (
        Milestone("fault injected", injected[0].at, f"fault_injected event {injected[0].name!r}") if injected else None)
    if start is None:
        return [m for m in (_explicit(result, n) for n in NAMES[1:]) if m]
    found.append(start)
    detection = _explicit(result, "detection")
    if detection is None:
        first = _first_failure(list(result.checkout) + list(result.dns), start.at)
        if first is not None:
            detection = Milestone("detection", first.at, f"first failed sample, from {first.source}")
    failover = _explicit(result, "failover")
    if failover is None:
        change = _first_dns_change(result, start.at)
        if change is not None:
            failover = Milestone("failover", change.at, f"DNS answer for {change.source} changed to "
                                                        f"{', '.join(change.value.addresses)}")
    if failover is None:
        state = next((e for e in result.timeline.of_kind("state")
                      if "failover" in e.name.lower() and e.at.monotonic_s >= start.at.monotonic_s), None)
        if state is not None:
            failover = Milestone("failover", state.at, f"state event {state.name!r}")
    recovery = _explicit(result, "recovery")
    if (recovery is None and result.verdict is not None and result.verdict.rto is not None
            and result.verdict.rto.wall_s is not None):
        offset = result.verdict.rto.wall_s
        recovery = Milestone("recovery", clock.Instant(start.at.monotonic_s + offset, start.at.wall_time + offset),
                             "injection + measured RTO")
    rolled = result.timeline.of_kind("fault_rolled_back")
    rollback = _explicit(result, "rolled back") or (
        Milestone("rolled back", rolled[-1].at, f"fault_rolled_back event {rolled[-1].name!r}") if rolled else None)
    found += [m for m in (detection, failover, recovery, rollback) if m is not None]
    return sorted(found, key=lambda m: m.at.monotonic_s)
