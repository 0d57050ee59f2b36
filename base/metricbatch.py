"""What every CloudWatch publisher here shares: a batch sent by a background thread, and latency as Values/Counts.

Publishers record on their caller's path (an append) and send off it: ``sender`` calls ``flush``
every ``flush_s`` on a daemon thread and once more at ``stop``, so nothing recorded is left unsent.
Latency goes as a histogram of values rounded to 0.1 ms with their counts (PutMetricData's
Values/Counts form), which keeps percentiles such as p95 computable by CloudWatch.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from base.periodic import Periodic

MAX_VALUES_PER_METRIC = 150  # PutMetricData's limit on one Values array


def sender(flush: Callable[[], object], flush_s: float, name: str) -> Periodic:
    """A thread that calls ``flush`` every ``flush_s``, and once more when stopped."""
    return Periodic(flush, flush_s, name, final_call=True)


def latency_histograms(latencies_ms: Iterable[float]) -> list[tuple[list[float], list[float]]]:
    """(Values, Counts) pairs for ``latencies_ms``, each within PutMetricData's limit of values per metric."""
    counts = sorted(Counter(round(latency, 1) for latency in latencies_ms).items())
    return [([value for value, _ in part], [float(count) for _, count in part])
            for part in (counts[start:start + MAX_VALUES_PER_METRIC]
                         for start in range(0, len(counts), MAX_VALUES_PER_METRIC))]
