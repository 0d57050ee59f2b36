"""The background sampler keeps its stated rate: a stalled read does not hold up the next ones, and when every
read allowed in flight is stalled, the missed slots are skipped instead of caught up in a burst."""
from __future__ import annotations

import threading
import time

import pytest

from base.deadline import holds_within
from probes.sampler import Sampler


def test_a_stalled_read_does_not_hold_up_the_next_ones() -> None:
    """A connection made just before a cut stalls until the restore and then answers: the reads started
    meanwhile are what see the outage, so they must not wait for it."""
    answer = threading.Event()
    calls: list[int] = []

    def read() -> int:
        calls.append(len(calls))
        if len(calls) == 1:
            answer.wait(10)  # held by the network until "the restore"
            return 0
        raise ConnectionError("timed out")  # the cut: new connections fail

    sampler = Sampler("test", "here", read, 0.01)
    try:
        sampler.start()
        assert holds_within(lambda: len(sampler.samples) >= 5, 10, 0.01)
    finally:
        answer.set()
        samples = sampler.stop()
    assert samples[0].ok and samples[0].value == 0  # the stalled read, first by its start though it ended last
    assert len(samples) >= 6 and not any(s.ok for s in samples[1:])
    starts = [s.at.monotonic_s for s in samples]
    assert starts == sorted(starts)


def test_settled_samples_end_before_the_oldest_read_in_flight() -> None:
    answer = threading.Event()
    calls: list[int] = []

    def read() -> int:
        calls.append(len(calls))
        if len(calls) == 2:
            answer.wait(10)
        return len(calls)

    sampler = Sampler("test", "here", read, 0.01)
    try:
        sampler.start()
        assert holds_within(lambda: len(sampler.samples) >= 4, 10, 0.01)
        settled = sampler.settled()
        assert len(settled) == 1  # the first; the stalled second may yet land before all the others
    finally:
        answer.set()
        samples = sampler.stop()
    assert sampler.settled() == samples and len(samples) >= 5


def test_no_more_reads_in_flight_than_allowed() -> None:
    answer = threading.Event()
    started: list[int] = []

    def read() -> int:
        started.append(1)
        answer.wait(10)
        return 1

    sampler = Sampler("test", "here", read, 0.01, max_in_flight=3)
    try:
        sampler.start()
        assert holds_within(lambda: len(started) >= 3, 10, 0.01)
        time.sleep(0.2)  # twenty more slots come and go while all three are stalled
        assert len(started) == 3
    finally:
        answer.set()
        samples = sampler.stop()
    assert len(samples) >= 3 and all(s.ok for s in samples)


def test_stop_waits_for_the_reads_in_flight() -> None:
    reading = threading.Event()

    def read() -> int:
        reading.set()
        time.sleep(0.3)
        return 1

    sampler = Sampler("test", "here", read, 10.0).start()
    assert reading.wait(10)
    assert [s.value for s in sampler.stop()] == [1]


def test_with_one_read_in_flight_a_slow_read_skips_the_missed_slots() -> None:
    interval_s = 0.05
    calls: list[float] = []

    def read() -> int:
        calls.append(time.monotonic())
        if len(calls) == 3:
            time.sleep(4 * interval_s)  # a probe waiting out a timeout
        return len(calls)

    sampler = Sampler("test", "here", read, interval_s, max_samples=8, max_in_flight=1)
    with sampler:
        holds_within(lambda: len(sampler.samples) >= 8, 10, 0.01)
    gaps = [later.at.monotonic_s - earlier.at.monotonic_s for earlier, later in zip(sampler.samples, sampler.samples[1:], strict=False)]
    assert len(sampler.samples) == 8
    # No catch-up burst after the slow third read: every start is at least most of an interval after the last.
    assert min(gaps) >= 0.6 * interval_s, gaps
    assert gaps[2] >= 4 * interval_s


def test_a_failing_read_is_a_failed_sample_not_a_crash() -> None:
    def read() -> int:
        raise ConnectionError("refused")

    sample = Sampler("test", "here", read, 1.0).take()
    assert not sample.ok and sample.error == "ConnectionError: refused"


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be > 0, got 0"):
        Sampler("test", "here", lambda: 1, 0)
    with pytest.raises(ValueError, match="max_in_flight must be >= 1, got 0"):
        Sampler("test", "here", lambda: 1, 1.0, max_in_flight=0)
