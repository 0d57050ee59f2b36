"""Chaos schedules: Hypothesis composes faults into schedules and checks three invariants after every step.

A schedule is a short runbook: isolate an AZ of the orders database by NACL, fail a Region's health
checks, reboot the database with failover (left in flight, or waited out), heal, wait. After every
step the machine checks:

- **no acknowledged order is lost**: the order canary runs throughout; the orders it acknowledged
  are read back as soon as orders flow (cheap) and all of them again after the schedule has healed;
- **DNS answers with healthy endpoints**: once the detection window has passed since the last change,
  every vantage point resolves checkout only to endpoints that are healthy, whenever one exists;
- **the writer is one writable node**: the writer name (orders.db.<zone>, a CNAME to the RDS endpoint)
  resolves to exactly one address, in the AZ RDS calls primary, and checkout finds it writable.

When an invariant breaks, Hypothesis shrinks the schedule and prints it as the runbook that breaks it::

    state = FaultSchedule()
    state.isolate_az(az='us-east-1a')
    state.wait(aws_s=60)
    state.dns_answers_with_healthy_endpoints()

Every fault goes through the scenario's journal and is healed in ``teardown()``, also when a step
failed; teardown then checks the stack recovered (DNS, writer, every order of the schedule). Bounded:
three schedules of at most five steps (about 2 minutes when they pass); shrinking a failure replays
schedules on the live stack and stops after SHRINK_BUDGET_S with the smallest one found. A live stack's
timing may not repeat a failure on replay; the verdict then says so and gives the unshrunk schedule. A
stack that cannot be healed (a rollback fails, RDS reports the database 'failed') stops the run at once.

The same machine runs against ``SimulatedRig``, an in-memory SecureCart that can be broken on purpose:
the tests at the bottom prove each invariant can fail and is reported as a shrunk schedule.

    pytest experiments/test_chaos_schedules.py -m gameday      # the schedules on the local stack
    pytest experiments/test_chaos_schedules.py -m "not gameday"  # the proof on the simulation (seconds)
    GAMEDAY_CHAOS_PROOF=1 pytest experiments/test_chaos_schedules.py -k local_stack  # the proof, live
"""
from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import time
from dataclasses import dataclass
from typing import Any, ContextManager, Iterator, Mapping, Protocol, Sequence

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from experiments.scenario import Scenario
from faults.network import IsolateAz
from faults.rds import RebootWithFailover
from faults.route53 import FailHealthCheck
from base import clock, net
from base.errors import FaultError
from probes import state
from probes.canary import Ack

# Bounded: three schedules of at most five steps, a few minutes on the local stack.
SCHEDULES = settings(max_examples=3, stateful_step_count=5, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
WAITS_AWS_S = (10, 30, 60)  # what `wait` may pass: less than, about, and more than the detection window
READS_PER_CHECK = 50  # read-backs per invariant check, so a check stays cheap
# RDS notices an unreachable primary within two of its 5 s health checks and leaves 'available'; the
# endpoint's TTL is 5 s. Within this grace a writer RDS calls available must be writable.
WRITER_GRACE_AWS_S = 30.0
SCHEDULE = "chaos_schedules"  # the scenario name in the evidence
# Shrinking replays schedules on the live stack at ~10 s each; Hypothesis alone would go on for 300 s.
SHRINK_BUDGET_S = 120.0
# DB instance states RDS does not leave by itself (an operator must restore or recreate the instance).
GIVEN_UP = ("failed", "incompatible-network", "incompatible-parameters", "incompatible-restore", "restore-error",
            "inaccessible-encryption-credentials", "storage-full")


@dataclass(frozen=True)
class Endpoint:
    region: str
    availability_zone: str


@dataclass(frozen=True)
class Writer:
    addresses: tuple[str, ...]  # what the writer name resolves to
    problem: str  # why it is not one writable node; "" when it is (or RDS says it is between states)


class Refused(Exception):
    """RDS refused the reboot (InvalidDBInstanceState: its standby is not synchronized); a legitimate answer."""


class StackBroken(BaseException):
    """The stack cannot be healed: a rollback failed, or RDS gave up on the database ('failed').

    A BaseException, so Hypothesis stops at once instead of shrinking: every later schedule would run on
    a broken stack and fail for that reason alone, and the "smallest" schedule would be the empty one.
    """


class ShrinkingStopped(BaseException):
    """The shrink budget is spent: report the smallest failing schedule found so far (Hypothesis would go on)."""


class Rig(Protocol):
    """What a schedule acts on and observes: the local stack (``LocalRig``) or a simulation (``SimulatedRig``)."""

    database_azs: tuple[str, ...]  # the orders database's two AZs
    regions: tuple[str, ...]  # Regions with checkout endpoints
    detection_window_aws_s: float
    last_change_aws_s: float  # shared across schedules: the stack does not forget the previous one

    def begin(self) -> None: ...  # a schedule begins
    def clock_aws_s(self) -> float: ...
    def pause(self, aws_s: float) -> None: ...
    def note(self, text: str) -> None: ...
    def isolate_az(self, az: str) -> ContextManager[Any]: ...
    def fail_health_checks(self, region: str) -> ContextManager[Any]: ...
    def reboot_with_failover(self) -> ContextManager[Any]: ...  # raises Refused
    def await_available(self) -> None: ...
    def endpoints(self) -> Mapping[str, Endpoint]: ...
    def resolve(self) -> dict[str, tuple[str, ...]]: ...  # vantage point -> checkout's addresses
    def writer(self, isolated: str | None, in_flight: bool) -> Writer: ...
    def orders_flowing(self) -> int: ...  # waits for a fresh ack; returns the index of the first
    def orders_ok(self) -> bool: ...  # the canary's latest order was acknowledged
    def acks(self) -> Sequence[Ack]: ...
    def read(self, ack: Ack) -> bool | None: ...  # found, missing, or unreadable now


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


def _why_unhealthy(endpoint: Endpoint | None, isolated: str | None, failed: set[str]) -> str:
    if endpoint is None:
        return "not a checkout endpoint"
    if endpoint.availability_zone == isolated:
        return f"{endpoint.availability_zone} is isolated"
    return f"{endpoint.region}'s health checks are failed" if endpoint.region in failed else "healthy"


# -- the local stack (or AWS) --------------------------------------------------------------------


class LocalRig:
    """The schedule's view of the stack, through the scenario: its faults, journal, probes and timeline."""

    def __init__(self, scenario: Scenario, detection_window_aws_s: float | None = None) -> None:
        self.scenario = scenario
        database = scenario.stack.database
        assert database is not None and scenario.canary is not None, "needs the orders database and the canary"
        self.database = database
        described = state.db_state(scenario.clients, database.region, database.identifier)
        assert described.secondary_availability_zone, "the orders database must be Multi-AZ"
        self.database_azs = tuple(sorted((described.availability_zone, described.secondary_availability_zone)))
        self.regions = tuple(sorted({i.region for i in scenario.stack.instances}))
        checks = scenario.environment.stack
        # A checker's first failing check comes up to one interval after a change, then it needs
        # FailureThreshold of them; one more interval covers the checkers' aggregation.
        self.detection_window_aws_s = (checks.health_check_interval_s * (checks.health_check_failure_threshold + 2)
                                       if detection_window_aws_s is None else detection_window_aws_s)
        self.last_change_aws_s = self.clock_aws_s()  # unknown before: start counting now
        self.await_available()
        virginia = scenario.vantage("virginia")
        self.reader = scenario.client(virginia)  # read-backs: its own connection, not the canary's
        self.asker = net.session(virginia.source_address)

    def begin(self) -> None:
        self.note("schedule begins")  # the stack carries on from the previous schedule

    def clock_aws_s(self) -> float:
        return self.scenario.timescale.to_aws(time.monotonic())

    def pause(self, aws_s: float) -> None:
        time.sleep(self.scenario.timescale.to_wall(aws_s))  # the schedule's own step: time passes

    def note(self, text: str) -> None:
        self.scenario.timeline.record("note", text)

    def isolate_az(self, az: str) -> ContextManager[Any]:
        return self.scenario.inject(IsolateAz, region=self.database.region, availability_zone=az,
                                    subnet_id=self.scenario.stack.subnet(az).subnet_id)

    @contextlib.contextmanager
    def fail_health_checks(self, region: str) -> Iterator[None]:
        with contextlib.ExitStack() as faults:
            for instance in self.scenario.stack.instances_in(region):
                faults.enter_context(self.scenario.inject(FailHealthCheck, health_check_id=instance.health_check_id))
            yield

    @contextlib.contextmanager
    def reboot_with_failover(self) -> Iterator[None]:
        self.await_available()
        try:
            # Leaving the fault waits until the instance is available again (a failover has no undo).
            with self.scenario.inject(RebootWithFailover, region=self.database.region,
                                      db_instance_identifier=self.database.identifier,
                                      wait_delay_s=self.scenario.interval_s):
                yield
        except FaultError as error:
            if "injecting failed with InvalidDBInstanceState" in str(error):
                raise Refused(str(error)) from error
            raise

    def _status(self) -> state.DbState:
        """The database as RDS describes it. Raises StackBroken when RDS has given up on it."""
        described = state.db_state(self.scenario.clients, self.database.region, self.database.identifier)
        if described.status in GIVEN_UP:
            raise StackBroken(f"RDS reports {self.database.identifier} {described.status!r}: "
                              "it will not become available by itself")
        return described

    def await_available(self) -> None:
        self.scenario.wait_until(lambda: self._status().status == "available", "the orders database is available", 600)

    def endpoints(self) -> Mapping[str, Endpoint]:
        return {i.private_ip: Endpoint(i.region, i.availability_zone) for i in self.scenario.stack.instances}

    def resolve(self) -> dict[str, tuple[str, ...]]:
        return {v.name: self.scenario.resolve(v).addresses for v in self.scenario.vantage_points()}

    def writer(self, isolated: str | None, in_flight: bool) -> Writer:
        deadline = time.monotonic() + self.scenario.timescale.to_wall(WRITER_GRACE_AWS_S)
        while True:
            addresses = self.scenario.resolve(self.scenario.vantage("virginia"), self.scenario.stack.names.database).addresses
            if len(addresses) != 1:
                return Writer(addresses, f"the writer {self.scenario.stack.names.database} resolves to "
                                         f"{list(addresses)}, not exactly one address")
            now = self._status()
            if in_flight or now.status != "available":
                return Writer(addresses, "")  # between states: RDS does not claim a writer
            problem = self._writable(addresses[0], now.availability_zone, isolated)
            if not problem or time.monotonic() >= deadline:
                return Writer(addresses, problem and f"{problem} ({WRITER_GRACE_AWS_S:.0f} AWS-s after RDS "
                                                     f"reported {self.database.identifier} available in {now.availability_zone})")
            time.sleep(self.scenario.interval_s)

    def _writable(self, address: str, primary_az: str, isolated: str | None) -> str:
        """"" when the writer's address is in the primary's AZ and checkout writes through it; else why not."""
        subnet = self.scenario.stack.subnet(primary_az)
        if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet.cidr):
            return f"the writer resolves to {address}, outside the primary's AZ {primary_az} ({subnet.cidr})"
        askers = [i for i in self.scenario.stack.instances_in(region=self.database.region)
                  if i.availability_zone != isolated]
        for instance in askers:
            url = f"http://{instance.private_ip}:{instance.port}/health/deep"
            try:
                response = self.asker.get(url, timeout=self.scenario.timescale.timeout(20, floor=1.0),
                                          headers={"Host": self.scenario.stack.names.checkout.rstrip(".")})
                body = response.json()
            except Exception as error:
                return f"checkout {instance.instance_id} ({instance.availability_zone}) cannot say: {type(error).__name__}"
            if response.status_code != 200 or body.get("database", {}).get("in_recovery") is not False:
                return (f"checkout {instance.instance_id} ({instance.availability_zone}) finds the writer {address} "
                        f"not writable: HTTP {response.status_code} {body.get('code', '')} {body.get('message', '')}")
        return ""

    def orders_flowing(self) -> int:
        canary = self.scenario.canary
        assert canary is not None
        first = len(canary.acks)
        self.scenario.wait_until(lambda: len(canary.acks) > first, "the canary's orders are acknowledged", 600)
        return first

    def orders_ok(self) -> bool:
        canary = self.scenario.canary
        return canary is not None and bool(canary.attempts) and canary.attempts[-1].ok

    def acks(self) -> Sequence[Ack]:
        canary = self.scenario.canary
        return list(canary.acks) if canary is not None else []

    def read(self, ack: Ack) -> bool | None:
        try:
            _, response = self.reader.request("GET", "/orders", params={"client_order_id": ack.client_order_id})
        except Exception:
            return None
        return True if response.status_code == 200 else False if response.status_code == 404 else None


def _run_schedules(scenario: Scenario, rig_factory: Any, name: str = SCHEDULE, schedules: settings = SCHEDULES) -> None:
    """Run the machine with the probes on; an invariant broken becomes the verdict (with the shrunk schedule)."""
    problems: list[str] = []
    with scenario.observe(dns=True, checkout=True, canary=True):
        scenario.steady_state()
        try:
            run_state_machine_as_test(fault_schedule(rig_factory(scenario)), settings=schedules)
        except (AssertionError, Flaky, StackBroken, ShrinkingStopped) as error:
            problems.append(explain(error))
    verdict = scenario.judge_invariants(name, problems)  # reads back every order the canary had acknowledged
    assert verdict.passed, "\n".join(verdict.messages)


def explain(error: BaseException) -> str:
    """What a failed run of schedules means, for the verdict.

    Hypothesis reports a stop in the middle of a replay (StackBroken, ShrinkingStopped) as
    FlakyStrategyDefinition, with ours as its context: look through the whole chain."""
    chain = _chain(error)
    for link in chain:
        if isinstance(link, ShrinkingStopped):
            return f"invariant broken: {link}"
    for link in chain:
        if isinstance(link, StackBroken):
            return (f"the stack did not recover (not shrunk: nothing could run on it after): {link}. It is left as it "
                    "is for inspection; `gameday recover` rolls back what the journal still holds")
    if isinstance(error, Flaky):  # broken once, not again on replay: the live stack's timing; nothing to shrink
        broken = [str(link) for link in chain if isinstance(link, AssertionError)] or [str(error)]
        return ("invariant broken, but not again when Hypothesis replayed the schedule (timing on a live stack), "
                "so the schedule is not shrunk: " + "\n".join(broken))
    return f"invariant broken: {error}\n" + "\n".join(getattr(error, "__notes__", []))  # the schedule Hypothesis printed


def _chain(error: BaseException) -> list[BaseException]:
    """``error``, the members of exception groups, and their causes and contexts, each once."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        link = todo.pop(0)
        if link is None or any(link is s for s in seen):
            continue
        seen.append(link)
        todo.extend(getattr(link, "exceptions", ()))
        todo.extend((link.__cause__, link.__context__))  # type: ignore[list-item]
    return seen


@pytest.mark.gameday
@pytest.mark.slow
def test_fault_schedules_keep_the_invariants(scenario: Scenario) -> None:
    """Schedules of AZ isolation, failed health checks and failovers: no order lost, DNS healthy, one writer."""
    _run_schedules(scenario, LocalRig)


# Not marked gameday: a proof of the suite itself, not a rehearsal, so `make gameday` does not list it as skipped.
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GAMEDAY_CHAOS_PROOF"),
                    reason="the proof on the local stack breaks an invariant on purpose; set GAMEDAY_CHAOS_PROOF=1")
def test_a_broken_invariant_fails_on_the_local_stack(scenario: Scenario) -> None:
    """With no detection window, DNS cannot keep up: the suite must fail and say after which schedule."""
    with pytest.raises(AssertionError) as failure:
        # Up to ten schedules: enough that one isolates an AZ or fails a Region's health checks.
        _run_schedules(scenario, lambda s: LocalRig(s, detection_window_aws_s=0), name=f"{SCHEDULE}_broken_on_purpose",
                       schedules=settings(SCHEDULES, max_examples=10))
    printed = str(failure.value)
    print(printed)
    assert "resolves checkout to" in printed, printed
    assert "schedule so far: (no step yet)" not in printed and ("isolate_az(" in printed or "fail_health_checks(" in printed)


# -- the proof: a simulated SecureCart that can be broken on purpose -------------------------------


class SimulatedRig:
    """SecureCart in memory on a virtual clock: Route 53 lags changes by less than the detection window,
    RDS fails over by itself when the primary's AZ is isolated, commits are synchronous. ``bug`` breaks it."""

    database_azs = ("us-east-1a", "us-east-1b")
    regions = ("us-east-1", "us-west-2")
    detection_window_aws_s = 50.0
    DNS_LAG_AWS_S = 35.0
    ENDPOINTS = {"127.64.1.4": Endpoint("us-east-1", "us-east-1a"), "127.64.2.4": Endpoint("us-east-1", "us-east-1b"),
                 "127.65.1.4": Endpoint("us-west-2", "us-west-2a"), "127.65.2.4": Endpoint("us-west-2", "us-west-2b")}
    NEAREST = {"virginia": ("us-east-1", "us-west-2"), "oregon": ("us-west-2", "us-east-1")}
    WRITERS = {"us-east-1a": "127.64.1.10", "us-east-1b": "127.64.2.10"}

    def __init__(self, bug: str = "") -> None:
        self.bug = bug  # "", "stale_dns", "async_commits", "two_writers" or "failover_into_isolated_az"
        self.begin()

    def begin(self) -> None:
        """Every schedule starts from the same fresh stack, so a replayed schedule behaves the same."""
        self.now_aws_s = 0.0
        self.last_change_aws_s = 0.0
        self.isolated: set[str] = set()
        self.failed: set[str] = set()
        self.history: list[tuple[float, frozenset[str], frozenset[str]]] = [(0.0, frozenset(), frozenset())]
        self.primary, self.standby = self.database_azs
        self.rebooting = False
        self.given_up = False  # RDS's 'failed'
        self.orders: list[Ack] = []
        self.lost: set[int] = set()
        self.sequence = itertools.count(1)
        self.notes: list[str] = []

    def clock_aws_s(self) -> float:
        return self.now_aws_s

    def pause(self, aws_s: float) -> None:
        for _ in range(int(aws_s // 2)):  # the canary orders every 2 AWS-s
            self.now_aws_s += 2
            if not self.rebooting and self.primary not in self.isolated:
                number = next(self.sequence)
                self.orders.append(Ack(number, f"canary-sim-{number:06d}", str(number),
                                       clock.Instant(self.now_aws_s, self.now_aws_s)))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _snapshot(self) -> None:
        self.history.append((self.now_aws_s, frozenset(self.isolated), frozenset(self.failed)))

    def _fail_over(self) -> None:
        self.primary, self.standby = self.standby, self.primary
        if self.bug == "async_commits":  # the standby had not applied the newest commits
            self.lost.update(ack.sequence for ack in self.orders[-3:])

    @contextlib.contextmanager
    def isolate_az(self, az: str) -> Iterator[None]:
        self.isolated.add(az)
        self._snapshot()
        if az == self.primary:
            self._fail_over()  # RDS notices and fails over by itself
        try:
            yield
        finally:
            self.isolated.discard(az)
            self._snapshot()

    @contextlib.contextmanager
    def fail_health_checks(self, region: str) -> Iterator[None]:
        self.failed.add(region)
        self._snapshot()
        try:
            yield
        finally:
            self.failed.discard(region)
            self._snapshot()

    @contextlib.contextmanager
    def reboot_with_failover(self) -> Iterator[None]:
        self.await_available()
        if self.standby in self.isolated:
            if self.bug != "failover_into_isolated_az":
                raise Refused("InvalidDBInstanceState: the standby is not synchronized")
            self.given_up = True  # the promoted standby is cut off; rebuilding the old primary from it fails
        self.rebooting = True
        self._fail_over()
        try:
            yield
        finally:
            self.rebooting = False

    def await_available(self) -> None:
        # A simulated failover completes when its fault is rolled back; only 'failed' stays.
        if self.given_up:
            raise StackBroken("RDS reports orders 'failed': it will not become available by itself")

    def endpoints(self) -> Mapping[str, Endpoint]:
        return self.ENDPOINTS

    def resolve(self) -> dict[str, tuple[str, ...]]:
        seen = [h for h in self.history if h[0] <= self.now_aws_s - self.DNS_LAG_AWS_S] or self.history[:1]
        _, isolated, failed = seen[-1]
        if self.bug == "stale_dns":
            isolated = frozenset()  # Route 53 never notices an isolated AZ
        answers = {}
        for vantage, nearest in self.NEAREST.items():
            by_region = [[a for a, e in self.ENDPOINTS.items() if e.region == region
                          and e.availability_zone not in isolated and region not in failed] for region in nearest]
            healthy = next((addresses for addresses in by_region if addresses), None)
            answers[vantage] = tuple(healthy or [a for a, e in self.ENDPOINTS.items() if e.region == nearest[0]])
        return answers

    def writer(self, isolated: str | None, in_flight: bool) -> Writer:
        self.await_available()
        addresses = tuple(sorted(self.WRITERS.values())) if self.bug == "two_writers" else (self.WRITERS[self.primary],)
        if len(addresses) != 1:
            return Writer(addresses, f"the writer resolves to {list(addresses)}, not exactly one address")
        return Writer(addresses, "")

    def orders_flowing(self) -> int:
        first = len(self.orders)
        self.pause(2)
        return first

    def orders_ok(self) -> bool:
        return not self.rebooting and self.primary not in self.isolated

    def acks(self) -> Sequence[Ack]:
        return self.orders

    def read(self, ack: Ack) -> bool | None:
        return ack.sequence not in self.lost


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
