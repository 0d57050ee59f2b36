"""The fault-schedule state machine: Hypothesis composes faults into schedules and checks three invariants.

A schedule is a short runbook: isolate an AZ of the orders database by NACL, fail a Region's health
checks, reboot the database with failover (left in flight, or waited out), heal, wait. After every
step the machine checks:

- **no acknowledged order is lost**: the order canary runs throughout; the orders it acknowledged
  are read back as soon as orders flow (cheap) and all of them again after the schedule has healed;
- **DNS answers with healthy endpoints**: once the detection window has passed since the last change,
  every vantage point resolves checkout only to endpoints that are healthy, whenever one exists;
- **the writer is one writable node**: the writer name resolves to exactly one address, in the AZ
  RDS calls primary, and checkout finds it writable.

When an invariant breaks, Hypothesis shrinks the schedule and prints it as the runbook that breaks it::

    state = FaultSchedule()
    state.isolate_az(az='us-east-1a')
    state.wait(aws_s=60)
    state.dns_answers_with_healthy_endpoints()

The machine acts only through a rig (``experiments.chaos.rig.Rig``): run it against any stack with
``run(MyRig(), "my_stack")``, which keeps failing schedules and replays them first next time
(``experiments.chaos.replay``). Every fault is healed in ``teardown()``, also when a step failed;
teardown then checks the stack recovered (DNS, writer, every order of the schedule). Shrinking a
failure on a live stack replays schedules there, so it stops after ``shrink_budget_s`` with the
smallest schedule found; a live stack's timing may not repeat a failure on replay, and ``explain``
then says so and gives the unshrunk schedule. A stack that cannot be healed stops the run at once.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from experiments.chaos import replay
from experiments.chaos.rig import CheckoutEndpoint, Refused, Rig, StackBroken
from probes.canary import Ack

# Bounded: three schedules of at most five steps, a few minutes on the local stack. Deterministic through
# replay.seeded (derandomize would rule out the database that keeps failures).
SCHEDULES = settings(max_examples=3, stateful_step_count=5, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))
WAITS_AWS_S = (10, 30, 60)  # what `wait` may pass: less than, about, and more than the detection window
READS_PER_CHECK = 50  # read-backs per invariant check, so a check stays cheap
# Shrinking replays schedules on the live stack at ~10 s each; Hypothesis alone would go on for 300 s.
SHRINK_BUDGET_S = 120.0


class ShrinkingStopped(BaseException):
    """The shrink budget is spent: report the smallest failing schedule found so far (Hypothesis would go on)."""


# What a run of schedules raises when it found a problem; ``explain`` turns each into a verdict's message.
FAILURES = (AssertionError, Flaky, StackBroken, ShrinkingStopped)


def fault_schedule(rig: Rig, shrink_budget_s: float = SHRINK_BUDGET_S) -> type[RuleBasedStateMachine]:
    """The state machine over fault schedules on ``rig``; its rules print as runbook steps."""
    failures: list[tuple[float, list[str], str]] = []  # (when, schedule, what broke), across schedules

    class FaultSchedule(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.active = contextlib.ExitStack()  # injected faults; heal() rolls them back, newest first
            self.isolated: str | None = None  # one AZ at a time: two would be a Region outage, not Multi-AZ
            self.failed_regions: set[str] = set()
            self.in_flight = False  # a reboot with failover that has not been waited out yet
            self.steps: list[str] = []  # this schedule so far, for messages Hypothesis does not print
            self.checked = {"orders read back": 0, "DNS answers": 0, "writer": 0}  # evidence the invariants ran
            if failures and time.monotonic() - failures[0][0] > shrink_budget_s:
                _, steps, what = min(failures, key=lambda failure: len(failure[1]))
                raise ShrinkingStopped(f"{what.splitlines()[0]}\n  the smallest of {len(failures)} failing schedules "
                                       f"found in {shrink_budget_s:.0f} s of shrinking: {'; '.join(steps) or '(none)'}")
            rig.begin()
            self.first_ack = self.confirmed = rig.orders_flowing()

        def _step(self, step: str, changes_endpoints: bool = False) -> None:
            self.steps.append(step)
            rig.note(f"schedule step: {step}")
            if changes_endpoints:  # which checkout endpoints are healthy changed: the detection window restarts
                rig.last_change_aws_s = rig.clock_aws_s()

        def _broken(self, what: str) -> str:
            """An invariant's message: what broke, and the schedule so far.

            Hypothesis prints the shrunk schedule itself; the schedule in the message is for a failure
            the live stack's timing does not repeat on replay, which Hypothesis cannot shrink."""
            failures.append((time.monotonic(), list(self.steps), what))
            return f"{what}\n  schedule so far: {'; '.join(self.steps) or '(no step yet)'}"

        def _heal(self, step: str) -> None:
            try:
                self.active.close()
            except Exception as error:  # a fault that cannot be rolled back leaves nothing to run schedules on
                raise StackBroken(f"{step}: a rollback failed: {type(error).__name__}: {error}") from error
            finally:
                self.active = contextlib.ExitStack()
                self.isolated, self.failed_regions, self.in_flight = None, set(), False
                self._step(step, changes_endpoints=True)

        # -- inject ------------------------------------------------------------------------------

        @precondition(lambda self: self.isolated is None)
        @rule(az=st.sampled_from(rig.database_azs))
        def isolate_az(self, az: str) -> None:
            self.active.enter_context(rig.isolate_az(az))
            self.isolated = az
            self._step(f"isolate_az(az={az!r})", changes_endpoints=True)

        @rule(region=st.sampled_from(rig.regions))
        def fail_health_checks(self, region: str) -> None:
            if region in self.failed_regions:
                return  # already failing (injecting again would flip Inverted back)
            self.active.enter_context(rig.fail_health_checks(region))
            self.failed_regions.add(region)
            self._step(f"fail_health_checks(region={region!r})", changes_endpoints=True)

        @precondition(lambda self: not self.in_flight)
        @rule()
        def reboot_with_failover(self) -> None:
            """Start a failover and go on while it runs; heal() waits it out."""
            try:
                self.active.enter_context(rig.reboot_with_failover())
            except Refused as refusal:
                self._step(f"reboot_with_failover() refused by RDS: {refusal}")
                return
            self.in_flight = True
            self._step("reboot_with_failover()")

        # -- recover -----------------------------------------------------------------------------

        @precondition(lambda self: bool(self.isolated or self.failed_regions or self.in_flight))
        @rule()
        def heal(self) -> None:
            self._heal("heal()")

        @precondition(lambda self: not self.in_flight)
        @rule()
        def fail_over(self) -> None:
            """The runbook step: once the database is available, reboot with failover and wait until it is again."""
            try:
                with rig.reboot_with_failover():
                    pass  # leaving the fault waits until the database is available
            except Refused as refusal:
                self._step(f"fail_over() refused by RDS: {refusal}")
                return
            self._step("fail_over()")

        @rule(aws_s=st.sampled_from(WAITS_AWS_S))
        def wait(self, aws_s: int) -> None:
            self._step(f"wait(aws_s={aws_s})")
            rig.pause(aws_s)

        # -- invariants --------------------------------------------------------------------------

        @invariant()
        def no_acknowledged_order_is_lost(self) -> None:
            if not rig.orders_ok():
                return  # reads would wait out timeouts on a broken path; teardown reads everything
            for ack in rig.acks()[self.confirmed:self.confirmed + READS_PER_CHECK]:
                found = rig.read(ack)
                if found is None:
                    return  # unreadable now; read again at the next check
                assert found, self._broken(f"acknowledged order lost: {_ack_text(ack)} is not found")
                self.confirmed += 1
                self.checked["orders read back"] += 1

        @invariant()
        def dns_answers_with_healthy_endpoints(self) -> None:
            quiet_aws_s = rig.clock_aws_s() - rig.last_change_aws_s
            if quiet_aws_s < rig.detection_window_aws_s:
                return
            endpoints = rig.endpoints()
            healthy = {address for address, e in endpoints.items()
                       if e.availability_zone != self.isolated and e.region not in self.failed_regions}
            if not healthy:
                return  # Route 53 fails open; nothing to ask for
            for vantage, addresses in rig.resolve().items():
                self.checked["DNS answers"] += 1
                unhealthy = sorted(set(addresses) - healthy)
                assert addresses and not unhealthy, self._broken(
                    f"{quiet_aws_s:.0f} AWS-s after the last change (detection window "
                    f"{rig.detection_window_aws_s:.0f} AWS-s), {vantage} resolves checkout to {list(addresses)}: "
                    + (", ".join(f"{a} ({_why_unhealthy(endpoints.get(a), self.isolated, self.failed_regions)})"
                                 for a in unhealthy) or "no address")
                    + f" while {sorted(healthy)} are healthy")

        @invariant()
        def writer_is_one_writable_node(self) -> None:
            writer = rig.writer(self.isolated, self.in_flight)
            self.checked["writer"] += 1
            assert not writer.problem, self._broken(writer.problem)

        # -- heal everything ---------------------------------------------------------------------

        def teardown(self) -> None:
            """Heal everything, then check the stack recovered: DNS, the writer, and every order of this schedule."""
            try:
                self._heal("teardown: heal everything")
                rig.await_available()
            except StackBroken as broken:
                raise StackBroken(f"{broken}\nafter the schedule: " + "; ".join(self.steps)) from broken
            rig.pause(max(0.0, rig.detection_window_aws_s - (rig.clock_aws_s() - rig.last_change_aws_s)))
            self.dns_answers_with_healthy_endpoints()
            self.writer_is_one_writable_node()
            rig.orders_flowing()  # reads need the path back
            acks = list(rig.acks()[self.first_ack:])
            unreadable = acks
            for _attempt in range(3):
                answers = [(ack, rig.read(ack)) for ack in unreadable]
                lost = [ack for ack, found in answers if found is False]
                assert not lost, self._broken(f"{len(lost)} of {len(acks)} acknowledged orders lost after healing: "
                                              + "; ".join(_ack_text(ack) for ack in lost[:10]))
                unreadable = [ack for ack, found in answers if found is None]
                if not unreadable:
                    rig.note(f"schedule healed; invariants checked: {self.checked}, then all {len(acks)} orders read back")
                    return
                rig.pause(10)
            raise AssertionError(self._broken(f"{len(unreadable)} acknowledged orders could not be read back after "
                                              "healing: " + "; ".join(_ack_text(ack) for ack in unreadable[:10])))

    return FaultSchedule


def _ack_text(ack: Ack) -> str:
    return f"canary order {ack.client_order_id} (sequence {ack.sequence}, acknowledged {ack.acked_at.iso})"


def _why_unhealthy(endpoint: CheckoutEndpoint | None, isolated: str | None, failed: set[str]) -> str:
    if endpoint is None:
        return "not a checkout endpoint"
    if endpoint.availability_zone == isolated:
        return f"{endpoint.availability_zone} is isolated"
    return f"{endpoint.region}'s health checks are failed" if endpoint.region in failed else "healthy"


def run(rig: Rig, name: str, schedules: settings = SCHEDULES, shrink_budget_s: float = SHRINK_BUDGET_S,
        examples: Path | None = None) -> None:
    """Run schedules on ``rig``; raises what ``explain`` reads when an invariant broke.

    Failing schedules are kept under ``name`` in ``examples`` (default ``replay.examples_dir()``) and
    replayed first by the next run with the same name."""
    machine = replay.seeded(fault_schedule(rig, shrink_budget_s))
    run_state_machine_as_test(machine, settings=replay.keeping_failures(schedules, name, examples))


def explain(error: BaseException, saved_in: Path | None = None) -> str:
    """What a failed run of schedules means, for the verdict (``saved_in``: where its failing schedules are kept).

    Hypothesis reports a stop in the middle of a replay (StackBroken, ShrinkingStopped) as
    FlakyStrategyDefinition, with ours as its context: look through the whole chain."""
    chain = _chain(error)
    kept = (f"\nThe failing schedules are kept in {saved_in}: the next run replays them first (delete the "
            "directory to forget them)") if saved_in is not None else ""
    for link in chain:
        if isinstance(link, ShrinkingStopped):
            return f"invariant broken: {link}{kept}"
    for link in chain:
        if isinstance(link, StackBroken):
            return (f"the stack did not recover (not shrunk: nothing could run on it after): {link}. It is left as it "
                    "is for inspection; `gameday recover` rolls back what the journal still holds")
    if isinstance(error, Flaky):  # broken once, not again on replay: the live stack's timing; nothing to shrink
        broken = [str(link) for link in chain if isinstance(link, AssertionError)] or [str(error)]
        return ("invariant broken, but not again when Hypothesis replayed the schedule (timing on a live stack), "
                "so the schedule is not shrunk: " + "\n".join(broken) + kept)
    printed = "\n".join(getattr(error, "__notes__", []))  # the schedule Hypothesis printed
    return f"invariant broken: {error}\n{printed}{kept}"


def _chain(error: BaseException) -> list[BaseException]:
    """``error``, the members of exception groups, and their causes and contexts, each once."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        link = todo.pop(0)
        if any(link is s for s in seen):
            continue
        seen.append(link)
        todo.extend(getattr(link, "exceptions", ()))
        todo.extend(cause for cause in (link.__cause__, link.__context__) if cause is not None)
    return seen

