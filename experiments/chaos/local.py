"""The fault-schedule machine on a SecureCart stack (local or on AWS), through an experiment's scenario.

``LocalRig`` injects through the scenario (so every fault is in the journal and the evidence
timeline), observes through its probes, and reads orders back through checkout. ``run_schedules``
runs the machine with the probes on and turns a broken invariant into the scenario's verdict::

    def test_my_schedules(scenario):
        verdict = run_schedules(scenario, LocalRig, name="my_schedules")
        assert verdict.passed, "\\n".join(verdict.messages)

A failing schedule is kept (``experiments.chaos.replay``) and the next run with the same name
replays it first; the verdict says where it is kept.
"""
from __future__ import annotations

import contextlib
import ipaddress
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence

from hypothesis import settings

from base import clock, net
from base.errors import FaultError
from experiments.chaos import replay
from experiments.chaos.machine import FAILURES, SCHEDULES, SHRINK_BUDGET_S, explain, run
from experiments.chaos.rig import CheckoutEndpoint, Refused, StackBroken, Writer
from experiments.scenario import Scenario
from faults.network import IsolateAz
from faults.rds import RebootWithFailover
from faults.route53 import FailHealthCheck
from probes import slo, state
from probes.canary import Ack

# RDS notices an unreachable primary within two of its 5 s health checks and leaves 'available'; the
# endpoint's TTL is 5 s. Within this grace a writer RDS calls available must be writable.
WRITER_GRACE_AWS_S = 30.0
# DB instance states RDS does not leave by itself (an operator must restore or recreate the instance).
GIVEN_UP = ("failed", "incompatible-network", "incompatible-parameters", "incompatible-restore", "restore-error",
            "inaccessible-encryption-credentials", "storage-full")


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
        return clock.aws_seconds(time.monotonic(), self.scenario.scale)

    def pause(self, aws_s: float) -> None:
        time.sleep(aws_s * self.scenario.scale)  # the schedule's own step: time passes

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

    def endpoints(self) -> Mapping[str, CheckoutEndpoint]:
        return {i.private_ip: CheckoutEndpoint(i.region, i.availability_zone) for i in self.scenario.stack.instances}

    def resolve(self) -> dict[str, tuple[str, ...]]:
        return {v.name: self.scenario.resolve(v).addresses for v in self.scenario.vantage_points()}

    def writer(self, isolated: str | None, in_flight: bool) -> Writer:
        deadline = time.monotonic() + WRITER_GRACE_AWS_S * self.scenario.scale
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
                response = self.asker.get(url, timeout=max(1.0, 20 * self.scenario.scale),
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


def run_schedules(scenario: Scenario, rig_factory: Callable[[Scenario], Any], name: str,
                  schedules: settings = SCHEDULES, shrink_budget_s: float = SHRINK_BUDGET_S,
                  examples: Path | None = None) -> slo.Verdict:
    """Run the machine with the probes on; an invariant broken becomes the verdict (with the shrunk schedule).

    ``name`` is the scenario's name in the evidence and names the kept failing schedules, which live in
    ``examples`` (default ``replay.examples_dir()``)."""
    examples = examples if examples is not None else replay.examples_dir()
    problems: list[str] = []
    with scenario.observe(dns=True, checkout=True, canary=True):
        scenario.steady_state()
        try:
            run(rig_factory(scenario), name, schedules, shrink_budget_s, examples)
        except FAILURES as error:
            problems.append(explain(error, saved_in=examples / name))
    return scenario.judge_invariants(name, problems)  # reads back every order the canary had acknowledged
