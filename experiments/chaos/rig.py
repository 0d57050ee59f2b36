"""How a stack plugs into the fault-schedule machine: the ``Rig`` protocol and what a rig answers with.

A rig is the machine's only view of a stack. It injects the three faults (each a context manager
that rolls its fault back on exit), tells the time, resolves the checkout name and the writer, and
reads back the canary's acknowledged orders. ``experiments.chaos.local.LocalRig`` drives a
SecureCart stack through a scenario; ``experiments.chaos.simulated.SimulatedRig`` is SecureCart in
memory. To run schedules against another stack, write a class with these members::

    class MyRig:
        database_azs = ("eu-west-1a", "eu-west-1b")
        regions = ("eu-west-1",)
        detection_window_aws_s = 50.0
        last_change_aws_s = 0.0

        def isolate_az(self, az): return my_nacl_fault(az)   # a context manager
        ...                                                  # the rest of Rig below

    run_state_machine_as_test(fault_schedule(MyRig()), settings=SCHEDULES)

A rig raises ``Refused`` when the stack legitimately turns a fault down (RDS will not fail over to an
unsynchronized standby) and ``StackBroken`` when the stack cannot be healed any more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ContextManager, Mapping, Protocol, Sequence

from probes.canary import Ack


@dataclass(frozen=True)
class CheckoutEndpoint:
    """Where a checkout address lives: DNS must stop answering with it when its AZ or Region is unhealthy."""

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


class Rig(Protocol):
    """What a schedule acts on and observes."""

    database_azs: tuple[str, ...]  # the orders database's two AZs
    regions: tuple[str, ...]  # Regions with checkout endpoints
    detection_window_aws_s: float  # how long DNS may take to follow a change of healthy endpoints
    last_change_aws_s: float  # shared across schedules: the stack does not forget the previous one

    def begin(self) -> None: ...  # a schedule begins
    def clock_aws_s(self) -> float: ...
    def pause(self, aws_s: float) -> None: ...
    def note(self, text: str) -> None: ...  # a line in the evidence timeline
    def isolate_az(self, az: str) -> ContextManager[Any]: ...
    def fail_health_checks(self, region: str) -> ContextManager[Any]: ...
    def reboot_with_failover(self) -> ContextManager[Any]: ...  # raises Refused; leaving it waits out the failover
    def await_available(self) -> None: ...  # raises StackBroken when the database will not come back
    def endpoints(self) -> Mapping[str, CheckoutEndpoint]: ...
    def resolve(self) -> dict[str, tuple[str, ...]]: ...  # vantage point -> checkout's addresses
    def writer(self, isolated: str | None, in_flight: bool) -> Writer: ...
    def orders_flowing(self) -> int: ...  # waits for a fresh ack; returns the index of the first
    def orders_ok(self) -> bool: ...  # the canary's latest order was acknowledged
    def acks(self) -> Sequence[Ack]: ...
    def read(self, ack: Ack) -> bool | None: ...  # found, missing, or unreadable now
