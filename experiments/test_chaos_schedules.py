"""Chaos schedules: Hypothesis composes faults into schedules and checks three invariants after every step.

The machine, its rigs and the replay of failing schedules are a library: ``experiments.chaos`` (read
its modules' docstrings to run schedules against your own stack). These tests run it:

- on the local stack (or AWS): three schedules of at most five steps, about 2 minutes when they pass;
  a failing schedule is kept under ``.hypothesis/chaos/chaos_schedules`` in the project (pytest's
  rootdir; ``$GAMEDAY_CHAOS_EXAMPLES`` overrides) and the next run replays it first;
- on ``SimulatedRig``, SecureCart in memory broken on purpose: each invariant can fail and is reported
  as a shrunk schedule, and a kept failure is replayed first.

    pytest experiments/test_chaos_schedules.py -m gameday      # the schedules on the local stack
    pytest experiments/test_chaos_schedules.py -m "not gameday"  # the proof on the simulation (seconds)
    GAMEDAY_CHAOS_PROOF=1 pytest experiments/test_chaos_schedules.py -k local_stack  # the proof, live
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from experiments.chaos import replay
from experiments.chaos.local import LocalRig, run_schedules
from experiments.chaos.machine import SCHEDULES, explain, fault_schedule
from experiments.chaos.rig import StackBroken
from experiments.chaos.simulated import SimulatedRig
from experiments.scenario import Scenario

SCHEDULE = "chaos_schedules"  # the scenario name in the evidence, and where its failing schedules are kept


@pytest.mark.gameday
@pytest.mark.slow
def test_fault_schedules_keep_the_invariants(scenario: Scenario, request: pytest.FixtureRequest) -> None:
    """Schedules of AZ isolation, failed health checks and failovers: no order lost, DNS healthy, one writer."""
    verdict = run_schedules(scenario, LocalRig, SCHEDULE, examples=replay.examples_dir(request.config.rootpath))
    assert verdict.passed, "\n".join(verdict.messages)


# Not marked gameday: a proof of the suite itself, not a rehearsal, so `make gameday` does not list it as skipped.
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GAMEDAY_CHAOS_PROOF"),
                    reason="the proof on the local stack breaks an invariant on purpose; set GAMEDAY_CHAOS_PROOF=1")
def test_a_broken_invariant_fails_on_the_local_stack(scenario: Scenario, request: pytest.FixtureRequest) -> None:
    """With no detection window, DNS cannot keep up: the suite must fail and say after which schedule."""
    # Up to ten schedules: enough that one isolates an AZ or fails a Region's health checks.
    verdict = run_schedules(scenario, lambda s: LocalRig(s, detection_window_aws_s=0), f"{SCHEDULE}_broken_on_purpose",
                            schedules=settings(SCHEDULES, max_examples=10),
                            examples=replay.examples_dir(request.config.rootpath))
    printed = "\n".join(verdict.messages)
    print(printed)
    assert not verdict.passed
    assert "resolves checkout to" in printed, printed
    assert "schedule so far: (no step yet)" not in printed and ("isolate_az(" in printed or "fail_health_checks(" in printed)


# -- the proof: a simulated SecureCart that can be broken on purpose -------------------------------


def _steps(printed: str) -> list[str]:
    """The rule calls in a schedule Hypothesis printed (the invariant checks and teardown left out)."""
    checks = ("no_acknowledged_order_is_lost()", "dns_answers_with_healthy_endpoints()",
              "writer_is_one_writable_node()", "teardown()")
    calls = [line.strip().removeprefix("state.") for line in printed.splitlines() if line.strip().startswith("state.")]
    return [call for call in calls if call not in checks]


FAST = settings(max_examples=200, stateful_step_count=8, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def test_the_invariants_hold_on_a_correct_simulation() -> None:
    """The invariants do not cry wolf: a SecureCart that behaves passes 200 schedules."""
    run_state_machine_as_test(fault_schedule(SimulatedRig()), settings=FAST)


@pytest.mark.parametrize(("bug", "expected"), [
    ("stale_dns", [["isolate_az(az='us-east-1a')", "wait(aws_s=60)"]]),
    ("async_commits", [["fail_over()"], ["reboot_with_failover()"], ["isolate_az(az='us-east-1a')"]]),
    ("two_writers", [[]]),
])
def test_a_broken_invariant_is_reported_as_a_shrunk_schedule(bug: str, expected: list[list[str]]) -> None:
    """Each invariant catches its bug, and Hypothesis prints the smallest schedule that shows it."""
    with pytest.raises(AssertionError) as failure:
        run_state_machine_as_test(fault_schedule(SimulatedRig(bug)), settings=FAST)
    printed = "\n".join(getattr(failure.value, "__notes__", []))
    assert _steps(printed) in expected, printed


def test_shrinking_stops_at_its_budget_with_the_smallest_schedule_found() -> None:
    """On a live stack a replay costs seconds: past the budget the run stops and reports what it has."""
    with pytest.raises(Flaky) as failure:  # Hypothesis reports the stop in mid-replay as inconsistent data
        run_state_machine_as_test(fault_schedule(SimulatedRig("stale_dns"), shrink_budget_s=0), settings=FAST)
    explained = explain(failure.value)
    # No budget: the first failing schedule, unshrunk, still names the step that broke DNS.
    assert explained.startswith("invariant broken: ") and "schedules found in 0 s of shrinking: " in explained, explained
    assert "isolate_az(az='us-east-1a')" in explained.split("shrinking: ")[1], explained


def test_a_stack_that_cannot_heal_stops_the_run_with_its_schedule() -> None:
    """RDS giving up on the database ends the run at once (nothing could run after), naming the schedule."""
    with pytest.raises(StackBroken) as failure:
        run_state_machine_as_test(fault_schedule(SimulatedRig("failover_into_isolated_az")), settings=FAST)
    explained = explain(failure.value)
    assert explained.startswith("the stack did not recover") and "'failed'" in explained, explained
    schedule = explained.split("after the schedule: ")[1]
    assert "isolate_az(az='us-east-1b')" in schedule and "fail" in schedule.split("isolate_az(az='us-east-1b')")[1], explained
