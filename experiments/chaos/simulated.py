"""SecureCart in memory, for proving the fault-schedule machine itself: ``SimulatedRig``.

A virtual clock, Route 53 lagging changes by less than the detection window, RDS failing over by
itself when the primary's AZ is isolated, synchronous commits. ``bug`` breaks it on purpose, so a
test can show that each invariant fails and is reported as a shrunk schedule, in seconds::

    with pytest.raises(AssertionError):
        run_state_machine_as_test(fault_schedule(SimulatedRig("stale_dns")), settings=FAST)

It is also the smallest complete example of a rig (``experiments.chaos.rig.Rig``).
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Iterator, Mapping, Sequence

from base import clock
from experiments.chaos.rig import CheckoutEndpoint, Refused, StackBroken, Writer
from probes.canary import Ack

BUGS = ("", "stale_dns", "async_commits", "two_writers", "failover_into_isolated_az")


class SimulatedRig:
    """SecureCart in memory on a virtual clock: Route 53 lags changes by less than the detection window,
    RDS fails over by itself when the primary's AZ is isolated, commits are synchronous. ``bug`` breaks it."""

    database_azs: tuple[str, ...] = ("us-east-1a", "us-east-1b")
    regions: tuple[str, ...] = ("us-east-1", "us-west-2")
    detection_window_aws_s = 50.0
    DNS_LAG_AWS_S = 35.0
    ENDPOINTS = {"127.64.1.4": CheckoutEndpoint("us-east-1", "us-east-1a"),
                 "127.64.2.4": CheckoutEndpoint("us-east-1", "us-east-1b"),
                 "127.65.1.4": CheckoutEndpoint("us-west-2", "us-west-2a"),
                 "127.65.2.4": CheckoutEndpoint("us-west-2", "us-west-2b")}
    NEAREST = {"virginia": ("us-east-1", "us-west-2"), "oregon": ("us-west-2", "us-east-1")}
    WRITERS = {"us-east-1a": "127.64.1.10", "us-east-1b": "127.64.2.10"}

    def __init__(self, bug: str = "") -> None:
        if bug not in BUGS:
            raise ValueError(f"SimulatedRig(bug={bug!r}): unknown bug; choose one of {', '.join(map(repr, BUGS))}")
        self.bug = bug
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

    def endpoints(self) -> Mapping[str, CheckoutEndpoint]:
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
