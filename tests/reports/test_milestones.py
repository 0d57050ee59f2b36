"""Milestones are a closed set, and a milestone measured from the samples is never silently replaced by a mark."""
from __future__ import annotations

from typing import Callable

import pytest

from base.milestone import Milestone
from base.timeline import Timeline
from environments.model import ScenarioSLO
from experiments.scenario import Scenario
from probes import slo
from probes.canary import Attempt
from probes.checkout import Response
from probes.dns import Answer
from probes.sampler import Sample
from reports import milestones
from reports.result import ScenarioResult
from tests.reports.synthetic import at, controlled_clock

INJECT_S = 10.0


def result(events: Callable[[Timeline, Callable[[float], None]], None], *, checkout_fails_at: float | None = None,
           canary_fails_at: float | None = None, dns: tuple[Sample[Answer], ...] = (),
           rto_s: float | None = None) -> ScenarioResult:
    """A scenario injected at INJECT_S and rolled back at 30 s; ``events`` records the experiment's own events."""
    with controlled_clock(0.0) as set_:
        timeline = Timeline("test_milestones", time_scale=0.1)
        set_(INJECT_S)
        timeline.record("fault_injected", "rds.reboot_with_failover")
        events(timeline, set_)
        set_(30.0)
        timeline.record("fault_rolled_back", "rds.reboot_with_failover")
    def ok(fails_at: float | None, t: float) -> bool:  # failing from ``fails_at`` until 20 s
        return fails_at is None or not fails_at <= t < 20

    checkout = tuple(Sample(at(n / 2), "virginia", ok(checkout_fails_at, n / 2),
                            Response("127.16.1.10", 200 if ok(checkout_fails_at, n / 2) else 503, 10.0, "i-1",
                                     "us-east-1")) for n in range(60))
    attempts = tuple(Attempt(n, at(n / 2), ok(canary_fails_at, n / 2)) for n in range(1, 60))
    rto = None if rto_s is None else slo.Rto(rto_s, rto_s * 10, (), 3.0)
    verdict = slo.Verdict("s", True, rto, None, ScenarioSLO(rto_s=120), ())
    return ScenarioResult("s", "t", "rds.reboot_with_failover", (), timeline, verdict, dns=dns, checkout=checkout,
                          canary_attempts=attempts)


def by_name(found: list[milestones.FoundMilestone]) -> dict[str, milestones.FoundMilestone]:
    names = [m.name for m in found]
    assert len(names) == len(set(names)), names  # each milestone at most once
    return {m.name: m for m in found}


def offset(m: milestones.FoundMilestone) -> float:
    return m.at.monotonic_s - at(0).monotonic_s


def test_an_unknown_milestone_is_refused_naming_the_allowed_ones() -> None:
    timeline = Timeline("t")
    with pytest.raises(ValueError, match=r"timeline event 'checks red': 'detected' is not a milestone; allowed: "
                                         r"'fault injected', 'detection', 'failover', 'recovery', 'rolled back'"):
        timeline.record("state", "checks red", milestone="detected")
    assert len(timeline) == 0
    scenario = Scenario("s", None, None, None, ("127.0.0.1", 53), None, timeline)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"scenario.mark\('x'\): 'Failover' is not a milestone; allowed: "):
        scenario.mark("Failover", "x")
    event = scenario.mark(Milestone.FAILOVER, "writer moved", az="us-east-1b")
    assert (event.kind, event.name, event.details) == ("state", "writer moved", {"milestone": "failover",
                                                                                 "az": "us-east-1b"})
    assert type(event.details["milestone"]) is str  # plain JSON in the evidence


def test_detection_is_the_first_failure_the_probes_see_not_the_injection() -> None:
    """Lab 3 observes only the canary: its first failed order after injection is the detection."""
    found = by_name(milestones.find(result(lambda timeline, set_: None, canary_fails_at=12.5)))
    assert offset(found["detection"]) == 12.5 and found["detection"].basis == "first failed canary order (sequence 25)"
    assert offset(found["fault injected"]) == INJECT_S


def test_a_mark_that_conflicts_with_a_measured_milestone_is_not_used_and_the_evidence_says_why() -> None:
    def events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        set_(INJECT_S)
        timeline.record("state", "rebooting", milestone="detection")  # what lab 3 used to mark: the injection
        set_(25.0)
        timeline.record("state", "recovered", milestone="recovery")

    found = by_name(milestones.find(result(events, checkout_fails_at=11.0, rto_s=12.0)))
    assert offset(found["detection"]) == 11.0
    assert found["detection"].basis == ("first failed sample, from virginia; the experiment's mark 'rebooting' "
                                        "(1.0 s earlier) is not used: detection is when the probes first saw the failure")
    assert offset(found["recovery"]) == INJECT_S + 12.0
    assert found["recovery"].basis.startswith("injection + measured RTO; the experiment's mark 'recovered' (3.0 s "
                                              "later) is not used: recovery is injection + the RTO measured")


def test_a_mark_stands_for_what_the_samples_cannot_show() -> None:
    """No DNS samples: the failover comes from the experiment's mark, ahead of a state event that mentions failover."""
    def events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        set_(16.0)
        timeline.record("state", "available again", milestone="failover")
        set_(18.0)
        timeline.record("state", "rds after failover")

    found = by_name(milestones.find(result(events, canary_fails_at=11.0)))
    assert offset(found["failover"]) == 16.0
    assert found["failover"].basis == "marked by the experiment: state event 'available again'"
    def unmarked_events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        set_(18.0)
        timeline.record("state", "rds after failover")

    unmarked = by_name(milestones.find(result(unmarked_events)))
    assert offset(unmarked["failover"]) == 18.0 and unmarked["failover"].basis == "state event 'rds after failover'"


def test_dns_answers_measure_the_failover_over_a_mark() -> None:
    def answer(t: float, address: str) -> Sample[Answer]:
        return Sample(at(t), "virginia", True, Answer("checkout.example.", (address,), 60, "NOERROR", None))

    dns = tuple(answer(t / 2, "127.16.1.10" if t / 2 < 14 else "127.17.1.10") for t in range(60))
    def events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        set_(16.0)
        timeline.record("state", "writer moved", milestone="failover")

    found = by_name(milestones.find(result(events, dns=dns)))
    assert offset(found["failover"]) == 14.0
    assert found["failover"].basis == ("DNS answer for virginia changed to 127.17.1.10; the experiment's mark "
                                       "'writer moved' (2.0 s later) is not used: the DNS answers show when users "
                                       "were sent elsewhere")


def test_a_milestone_marked_twice_uses_the_first_and_names_the_other() -> None:
    def events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        for t, name in ((15.0, "writer moved"), (17.0, "writer moved again")):
            set_(t)
            timeline.record("state", name, milestone="failover")

    failover = by_name(milestones.find(result(events)))["failover"]
    assert offset(failover) == 15.0
    assert failover.basis == ("marked by the experiment: state event 'writer moved'; the experiment's mark "
                              "'writer moved again' (2.0 s later) is not used: a milestone happens once: the first "
                              "mark is used")
