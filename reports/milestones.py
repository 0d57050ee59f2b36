"""Where the milestones of a DR timeline fall: fault injected, detection, failover, recovery, rolled back.

The names are a closed set (``base.milestone.Milestone``). Each is found, in this order of trust:

1. measured: from the faults' own events (fault injected, rolled back) or the probes' samples:
   - detection: the first failed probe sample after injection (checkout, DNS or the order canary):
     when users first saw the failure;
   - failover: the first DNS answer after injection that differs from that vantage point's last
     answer before it;
   - recovery: injection + the measured RTO (``probes.slo.rto``);
2. marked by the experiment (``Scenario.mark``), for what the samples cannot show; for example::

       scenario.mark(Milestone.FAILOVER, "RDS reports the database available in the other AZ")

3. failover only: a state event whose name mentions failover.

A mark never replaces a measured milestone: the measured one stays, and its ``basis`` (the evidence's
"how it was determined") names the mark that was not used, where it fell and why. The mark itself
stays in the timeline as the event the experiment recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from base import clock
from base.milestone import Milestone
from base.timeline import Event
from probes.dns import Answer
from probes.sampler import Sample
from experiments.result import ScenarioResult

NAMES = tuple(m.value for m in Milestone)
# Why a measured milestone wins over a mark, in the words the evidence shows.
MEASURED_BY = {
    Milestone.FAULT_INJECTED: "the fault's own event says when it was injected",
    Milestone.DETECTION: "detection is when the probes first saw the failure",
    Milestone.FAILOVER: "the DNS answers show when users were sent elsewhere",
    Milestone.RECOVERY: "recovery is injection + the RTO measured from the samples",
    Milestone.ROLLED_BACK: "the fault's own event says when it was rolled back",
}


@dataclass(frozen=True)
class FoundMilestone:
    name: str  # a Milestone's value
    at: clock.Instant
    basis: str  # how it was found, for the auditor


def _marks(result: ScenarioResult) -> dict[Milestone, list[Event]]:
    marks: dict[Milestone, list[Event]] = {}
    for event in result.timeline:
        if "milestone" in event.details:
            marks.setdefault(Milestone.parse(event.details["milestone"], f"timeline event {event.name!r}"),
                             []).append(event)
    return marks


def _settle(name: Milestone, measured: FoundMilestone | None, marks: list[Event]) -> FoundMilestone | None:
    """The measured milestone if there is one, else the first mark; every mark not used is named in the basis."""
    if not marks:
        return measured
    unused = marks[1:]
    if measured is None:
        chosen = FoundMilestone(name.value, marks[0].at, f"marked by the experiment: {marks[0].kind} event "
                                                         f"{marks[0].name!r}")
    else:
        chosen, unused = measured, marks
    notes = []
    for mark in unused:
        if mark.at.monotonic_s == chosen.at.monotonic_s and measured is not None:
            continue  # the mark agrees with the measurement
        offset = mark.at.monotonic_s - chosen.at.monotonic_s
        why = MEASURED_BY[name] if measured is not None else "a milestone happens once: the first mark is used"
        notes.append(f"the experiment's mark {mark.name!r} ({abs(offset):.1f} s {'later' if offset >= 0 else 'earlier'})"
                     f" is not used: {why}")
    if not notes:
        return chosen
    return FoundMilestone(chosen.name, chosen.at, "; ".join([chosen.basis, *notes]))


def _first_failure(result: ScenarioResult, after: clock.Instant) -> FoundMilestone | None:
    failed: list[tuple[clock.Instant, str]] = [
        (s.at, f"first failed sample, from {s.source}") for s in list(result.checkout) + list(result.dns)
        if not s.ok and s.at.monotonic_s >= after.monotonic_s]
    failed += [(a.at, f"first failed canary order (sequence {a.sequence})") for a in result.canary_attempts
               if not a.ok and a.at.monotonic_s >= after.monotonic_s]
    if not failed:
        return None
    at, basis = min(failed, key=lambda f: f[0].monotonic_s)
    return FoundMilestone(Milestone.DETECTION.value, at, basis)


def _first_dns_change(result: ScenarioResult, after: clock.Instant) -> FoundMilestone | None:
    before: dict[str, tuple[str, ...]] = {}
    changes: list[tuple[Sample[Answer], tuple[str, ...]]] = []
    for sample in sorted(result.dns, key=lambda s: s.at.monotonic_s):
        addresses = sample.value.addresses if sample.ok and sample.value is not None else None
        if sample.at.monotonic_s < after.monotonic_s:
            if addresses is not None:
                before[sample.source] = addresses
        elif addresses is not None and sample.source in before and addresses != before[sample.source]:
            changes.append((sample, addresses))
            before[sample.source] = addresses
    if not changes:
        return None
    first, addresses = min(changes, key=lambda change: change[0].at.monotonic_s)
    return FoundMilestone(Milestone.FAILOVER.value, first.at,
                          f"DNS answer for {first.source} changed to {', '.join(addresses)}")


def _from_event(name: Milestone, events: Sequence[Event]) -> FoundMilestone | None:
    return FoundMilestone(name.value, events[0].at, f"{events[0].kind} event {events[0].name!r}") if events else None


def find(result: ScenarioResult) -> list[FoundMilestone]:
    """The milestones present in ``result``, in time order."""
    marks = _marks(result)
    start = _settle(Milestone.FAULT_INJECTED, _from_event(Milestone.FAULT_INJECTED,
                                                          result.timeline.of_kind("fault_injected")),
                    marks.get(Milestone.FAULT_INJECTED, []))
    if start is None:  # nothing to measure from: only what the experiment marked
        marked = [_settle(name, None, marks.get(name, [])) for name in list(Milestone)[1:]]
        return sorted((m for m in marked if m is not None), key=lambda m: m.at.monotonic_s)
    detection = _settle(Milestone.DETECTION, _first_failure(result, start.at), marks.get(Milestone.DETECTION, []))
    failover = _settle(Milestone.FAILOVER, _first_dns_change(result, start.at), marks.get(Milestone.FAILOVER, []))
    if failover is None:
        state = next((e for e in result.timeline.of_kind("state")
                      if "failover" in e.name.lower() and e.at.monotonic_s >= start.at.monotonic_s), None)
        if state is not None:
            failover = FoundMilestone(Milestone.FAILOVER.value, state.at, f"state event {state.name!r}")
    measured_recovery = None
    if result.verdict is not None and result.verdict.rto is not None and result.verdict.rto.wall_s is not None:
        offset = result.verdict.rto.wall_s
        measured_recovery = FoundMilestone(Milestone.RECOVERY.value, clock.Instant(
            start.at.monotonic_s + offset, start.at.wall_time + offset), "injection + measured RTO")
    recovery = _settle(Milestone.RECOVERY, measured_recovery, marks.get(Milestone.RECOVERY, []))
    rolled = result.timeline.of_kind("fault_rolled_back")
    rollback = _settle(Milestone.ROLLED_BACK, _from_event(Milestone.ROLLED_BACK, rolled[-1:]),
                       marks.get(Milestone.ROLLED_BACK, []))
    found = [start] + [m for m in (detection, failover, recovery, rollback) if m is not None]
    return sorted(found, key=lambda m: m.at.monotonic_s)
