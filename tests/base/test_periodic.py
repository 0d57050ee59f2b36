"""A function called every few seconds on a daemon thread."""
from __future__ import annotations

import threading
import time

import pytest

from base.periodic import Periodic


def _calls_until_stopped(final_call: bool) -> tuple[int, int]:
    """(calls when stop returned, calls a little later) for a 10 ms period, after at least three calls."""
    calls: list[float] = []
    three = threading.Event()

    def call() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            three.set()

    periodic = Periodic(call, every_s=0.01, name="test-periodic", final_call=final_call).start()
    try:
        assert three.wait(10), "the thread never called three times"
    finally:
        periodic.stop(join_s=5)
    at_stop = len(calls)
    time.sleep(0.05)
    return at_stop, len(calls)


def test_it_calls_until_stopped_and_not_after() -> None:
    at_stop, later = _calls_until_stopped(final_call=False)
    assert at_stop >= 3 and later == at_stop


def test_a_final_call_comes_at_stop_even_before_the_first_period() -> None:
    called = threading.Event()
    periodic = Periodic(called.set, every_s=3600, name="test-periodic", final_call=True).start()
    periodic.stop(join_s=5)
    assert called.is_set()


def test_without_a_final_call_a_stop_before_the_first_period_calls_nothing() -> None:
    called = threading.Event()
    periodic = Periodic(called.set, every_s=3600, name="test-periodic").start()
    periodic.stop(join_s=5)
    assert not called.is_set()


def test_stopping_one_never_started_does_not_wait() -> None:
    Periodic(lambda: None, every_s=3600, name="test-periodic").stop(join_s=5)


@pytest.mark.parametrize("every_s", [0, -1.0])
def test_a_period_that_is_not_positive_is_refused_naming_the_thread(every_s: float) -> None:
    with pytest.raises(ValueError, match=rf"test-periodic: the period every_s must be > 0, got {every_s}"):
        Periodic(lambda: None, every_s=every_s, name="test-periodic")
