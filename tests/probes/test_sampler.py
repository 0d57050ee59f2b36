"""The background sampler keeps its stated rate: a slow read skips slots instead of causing a burst."""
from __future__ import annotations

import time

import pytest

from base.deadline import holds_within
from probes.sampler import Sampler


def test_a_read_that_outlasts_its_slot_skips_the_missed_slots() -> None:
    interval_s = 0.05
    calls: list[float] = []

    def read() -> int:
        calls.append(time.monotonic())
        if len(calls) == 3:
            time.sleep(4 * interval_s)  # a probe waiting out a timeout
        return len(calls)

    sampler = Sampler("test", "here", read, interval_s, max_samples=8)
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
