"""base.deadline: the one wait-for-a-condition loop, checked on a fake clock (no real sleeping)."""
from __future__ import annotations

from typing import Iterator

import pytest

import base.deadline
from base.deadline import Deadline, DeadlineExceeded, holds_within, until


class FakeClock:
    """A monotonic clock that moves only when slept on; records every sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(base.deadline, "time", fake)
    return fake


def test_returns_the_first_truthy_value(clock: FakeClock) -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert until(lambda: next(answers), timeout_s=10, interval_s=1) == "ready"
    assert clock.sleeps == [1, 1, 1]


def test_a_zero_timeout_checks_once_then_fails_naming_what_and_the_last_value(clock: FakeClock) -> None:
    calls: list[int] = []

    def closed() -> int:
        calls.append(1)
        return 0

    with pytest.raises(DeadlineExceeded, match=r"waited 0 s for the socket; last: 0") as caught:
        until(closed, timeout_s=0, what="the socket")
    assert calls == [1]
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.what == "the socket" and caught.value.timeout_s == 0
    assert clock.sleeps == []


def test_the_last_sleep_is_cut_and_the_condition_asked_once_more_at_the_deadline(clock: FakeClock) -> None:
    seen: list[float] = []

    def condition() -> bool:
        seen.append(clock.now - 100.0)
        return False

    with pytest.raises(DeadlineExceeded, match=r"waited 2.5 s for x; last: False"):
        until(condition, timeout_s=2.5, what="x", interval_s=1)
    assert clock.sleeps == [1, 1, 0.5]
    assert seen == [0, 1, 2, 2.5]  # the final check happens at the deadline, not before it


def test_ignored_exceptions_count_as_misses_and_are_reported_last(clock: FakeClock) -> None:
    def refused() -> None:
        raise ConnectionRefusedError("no listener")

    with pytest.raises(DeadlineExceeded, match="no listener") as caught:
        until(refused, timeout_s=1, interval_s=0.5, ignore=(OSError,))
    assert isinstance(caught.value.last, ConnectionRefusedError)
    answers: Iterator[str | OSError] = iter([OSError("not yet"), "up"])

    def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert until(flaky, timeout_s=1, interval_s=0.5, ignore=(OSError,)) == "up"


def test_other_exceptions_end_the_wait_at_once(clock: FakeClock) -> None:
    def exited() -> bool:
        raise RuntimeError("the child exited")

    with pytest.raises(RuntimeError, match="the child exited"):
        until(exited, timeout_s=60, ignore=(OSError,))
    assert clock.sleeps == []


def test_deadline_remaining_expired_and_sleep(clock: FakeClock) -> None:
    deadline = Deadline.after(3)
    assert deadline.remaining() == 3 and not deadline.expired and deadline.timeout_s == 3
    deadline.sleep(2)
    assert deadline.remaining() == 1 and not deadline.expired
    deadline.sleep(2)  # cut to the 1 s left
    assert clock.sleeps == [2, 1]
    assert deadline.remaining() == 0.0 and deadline.expired
    clock.now += 5
    assert deadline.remaining() == 0.0  # never negative


def test_a_negative_timeout_is_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match=r"timeout_s: -1 is not allowed; use a number of seconds >= 0"):
        Deadline.after(-1)


def test_real_clock_wait_returns_as_soon_as_the_condition_holds() -> None:
    flag = iter([False, True])
    assert until(lambda: next(flag), timeout_s=30, interval_s=0.001) is True


def test_accept_decides_and_the_last_value_is_the_conditions_own(clock: FakeClock) -> None:
    rows = iter([[["catchup", "async"]], [["streaming", "sync"]]])
    assert until(lambda: next(rows), timeout_s=5, interval_s=1,
                 accept=lambda r: r == [["streaming", "sync"]]) == [["streaming", "sync"]]
    with pytest.raises(DeadlineExceeded, match=r"last: \[\['catchup', 'async'\]\]"):
        until(lambda: [["catchup", "async"]], timeout_s=1, interval_s=1, accept=lambda r: r[0][1] == "sync")
    assert until(lambda: 0, timeout_s=0, accept=lambda n: n == 0) == 0  # a falsy value can be the answer


def test_holds_within_answers_instead_of_raising(clock: FakeClock) -> None:
    answers = iter([False, False, True])
    assert holds_within(lambda: next(answers), timeout_s=5, interval_s=1) is True
    assert clock.sleeps == [1, 1]
    assert holds_within(lambda: False, timeout_s=2, interval_s=1) is False
    assert clock.sleeps == [1, 1, 1, 1]
