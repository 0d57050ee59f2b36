"""What every CloudWatch publisher here shares: a batch sent by a background thread, and latency as Values/Counts.

Publishers record on their caller's path (an append) and send off it: ``Periodic`` calls ``flush``
every ``flush_s`` on a daemon thread and once more at ``stop``, so nothing recorded is left unsent.
Latency goes as a histogram of values rounded to 0.1 ms with their counts (PutMetricData's
Values/Counts form), which keeps percentiles such as p95 computable by CloudWatch.
"""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable

MAX_VALUES_PER_METRIC = 150  # PutMetricData's limit on one Values array


class Periodic:
    """Calls ``flush`` every ``flush_s`` on a daemon thread, and once more when stopped."""

    def __init__(self, flush: Callable[[], object], flush_s: float, name: str) -> None:
        if flush_s <= 0:
            raise ValueError(f"metrics flush_s must be > 0, got {flush_s}")
        self._flush, self.flush_s = flush, flush_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_s: float) -> None:
        """Stop the thread (waiting up to ``join_s`` for a send in progress), then send what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(join_s)
        self._flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self._flush()


def latency_histograms(latencies_ms: Iterable[float]) -> list[tuple[list[float], list[float]]]:
    """(Values, Counts) pairs for ``latencies_ms``, each within PutMetricData's limit of values per metric."""
    counts = sorted(Counter(round(latency, 1) for latency in latencies_ms).items())
    return [([value for value, _ in part], [float(count) for _, count in part])
            for part in (counts[start:start + MAX_VALUES_PER_METRIC]
                         for start in range(0, len(counts), MAX_VALUES_PER_METRIC))]
