"""The shared batch sender and latency histogram of the CloudWatch publishers."""
from __future__ import annotations

import threading

import pytest

from base.metricbatch import MAX_VALUES_PER_METRIC, latency_histograms, sender


def test_histograms_round_to_a_tenth_and_count_repeats() -> None:
    assert latency_histograms([1.04, 1.0, 2.26, 1.01]) == [([1.0, 2.3], [3.0, 1.0])]


def test_histograms_split_at_the_values_limit() -> None:
    pairs = latency_histograms(float(n) for n in range(MAX_VALUES_PER_METRIC + 1))
    assert [len(values) for values, _ in pairs] == [MAX_VALUES_PER_METRIC, 1]
    assert sum(sum(counts) for _, counts in pairs) == MAX_VALUES_PER_METRIC + 1


def test_stop_sends_what_is_left_even_before_the_first_period() -> None:
    flushed = threading.Event()
    thread = sender(flushed.set, flush_s=3600, name="test-sender")
    thread.start()
    thread.stop(join_s=5)
    assert flushed.is_set()


def test_a_period_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="test-sender: the period every_s must be > 0, got 0"):
        sender(lambda: None, flush_s=0, name="test-sender")
