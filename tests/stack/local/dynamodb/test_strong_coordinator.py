"""The MRSC coordinator alone, with a controlled wait: conflicts, one Region's writes in turn, quorum, catch-up."""
from __future__ import annotations

import logging
import threading
from typing import Callable

import pytest

from stack.local.awserror import AwsError
from stack.local.dynamodb.strong import StrongCoordinator
from stack.local.messages import ApiResponse
from stack.local.services import MrscMember

OK = ApiResponse(200, b"{}")
DELAYS = {("a", "b"): 0.3, ("a", "c"): 0.5, ("b", "c"): 0.4}


def delay(source: str, target: str) -> float:
    return DELAYS.get((source, target)) or DELAYS[(target, source)]


class Gate:
    """A wait that records what it was asked for; with ``hold_first``, the first wait lasts until ``open``."""

    def __init__(self, hold_first: bool = False) -> None:
        self.waits: list[float] = []
        self.entered = threading.Event()
        self.open = threading.Event()
        if not hold_first:
            self.open.set()

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == 1:
            self.entered.set()
            assert self.open.wait(10)


def members(*cut: str, witness: str | None = None) -> Callable[[], list[MrscMember]]:
    regions = [r for r in ("a", "b", "c") if r != witness]
    found = [MrscMember(r, False, r not in cut) for r in regions]
    return lambda: found + ([MrscMember(witness, True, True)] if witness else [])


def coordinator(gate: Gate) -> StrongCoordinator:
    return StrongCoordinator(delay, lambda a, b: delay(a, b) / 10, logging.getLogger("test"), sleep=gate)


def no_catch_up(source: str, target: str) -> None:
    raise AssertionError(f"no catch-up expected ({source} -> {target})")


def test_a_write_waits_for_the_nearest_member_then_reaches_every_reachable_replica() -> None:
    gate = Gate()
    replicated: list[str] = []
    assert coordinator(gate).strong_write("t", "a", ["k"], members(), lambda: OK, replicated.append, no_catch_up) == OK
    assert gate.waits == [0.3] and replicated == ["b", "c"]
    gate.waits.clear()
    replicated.clear()
    coordinator(gate).strong_write("t", "c", ["k"], members(witness="b"), lambda: OK, replicated.append, no_catch_up)
    assert gate.waits == [0.4] and replicated == ["a"]  # the witness, nearest, gives quorum; it holds no items


def test_a_write_to_an_item_another_region_is_writing_conflicts_and_one_region_writes_in_turn() -> None:
    gate = Gate(hold_first=True)
    strong = coordinator(gate)
    first = threading.Thread(target=strong.strong_write, args=("t", "a", ["k"], members(), lambda: OK,
                                                               lambda _r: None, no_catch_up))
    first.start()
    assert gate.entered.wait(10)  # the first write is in flight
    with pytest.raises(AwsError) as raised:
        strong.strong_write("t", "b", ["x", "k"], members(), lambda: OK, lambda _r: None, no_catch_up)
    assert raised.value.code == "ReplicatedWriteConflictException" and raised.value.status == 400
    strong.strong_write("t", "b", ["other"], members(), lambda: OK, lambda _r: None, no_catch_up)  # another item
    applied: list[str] = []
    second = threading.Thread(target=strong.strong_write, args=("t", "a", ["k"], members(), lambda: applied.append("2")
                                                                or OK, lambda _r: None, no_catch_up))
    second.start()
    second.join(0.2)
    assert second.is_alive() and applied == []  # the same Region's second write waits for the first
    gate.open.set()
    first.join(10)
    second.join(10)
    assert applied == ["2"] and strong.counts["conflicts"] == 1
    strong.strong_write("t", "b", ["k"], members(), lambda: OK, lambda _r: None, no_catch_up)  # free again


def test_a_cut_off_replica_is_refused_and_caught_up_before_it_serves_again() -> None:
    gate = Gate()
    strong = coordinator(gate)
    replicated: list[str] = []
    with pytest.raises(AwsError) as raised:
        strong.strong_write("t", "b", ["k"], members("b"), lambda: OK, replicated.append, no_catch_up)
    assert raised.value.code == "AccessDeniedException"
    with pytest.raises(AwsError):
        strong.strong_read("t", "b", members("b"), lambda: OK, no_catch_up)
    strong.strong_write("t", "a", ["k"], members("b"), lambda: OK, replicated.append, no_catch_up)
    assert replicated == ["c"] and strong.behind("t") == {"b"}
    caught: list[tuple[str, str]] = []
    assert strong.strong_read("t", "b", members(), lambda: OK, lambda s, t: caught.append((s, t))) == OK
    assert caught == [("a", "b")] and strong.behind("t") == set()  # from the nearest up-to-date replica
    assert gate.waits[-2:] == [0.3, 0.03]  # the catch-up's delay, then the read's round trip


def test_without_a_second_member_nothing_is_applied() -> None:
    gate = Gate()
    applied: list[str] = []
    with pytest.raises(AwsError) as raised:
        coordinator(gate).strong_write("t", "a", ["k"], members("b", "c"), lambda: applied.append("x") or OK,
                                       lambda _r: None, no_catch_up)
    assert raised.value.code == "InternalServerError" and raised.value.status == 500 and applied == []


def test_a_refused_write_is_not_replicated() -> None:
    gate = Gate()
    replicated: list[str] = []
    failed = ApiResponse(400, b'{"__type": "ConditionalCheckFailedException"}')
    assert coordinator(gate).strong_write("t", "a", ["k"], members(), lambda: failed, replicated.append,
                                          no_catch_up) == failed
    assert replicated == []
