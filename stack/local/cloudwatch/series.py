"""The samples the evaluator has read from the store, per metric, and each period's datapoint.

Periods are aligned on the epoch, as CloudWatch aligns them, and last the alarm's Period scaled to
wall seconds (a 60 s period lasts 6 s at time_scale 0.1). Samples are kept for ``horizon_s`` wall
seconds: long enough for the longest evaluation range of any alarm.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Iterable

from stack.local import metricstats as statistics
from stack.local.cloudwatch.evaluation import AlarmSpec, Datapoint
from stack.local.services import MetricSample

MetricKey = tuple[str, str, str, frozenset[tuple[str, str]]]  # Region, namespace, name, dimensions


class Series:
    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._samples: dict[MetricKey, list[MetricSample]] = {}
        self._lock = threading.Lock()

    def add(self, samples: Iterable[MetricSample]) -> None:
        with self._lock:
            for sample in samples:
                key = (sample.region, sample.namespace, sample.metric_name, sample.dimensions)
                self._samples.setdefault(key, []).append(sample)

    def prune(self, now_s: float) -> None:
        oldest = now_s - self.horizon_s
        with self._lock:
            for key in list(self._samples):
                kept = [s for s in self._samples[key] if s.timestamp_s >= oldest]
                if kept:
                    self._samples[key] = kept
                else:
                    del self._samples[key]

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._samples.values())

    def datapoints(self, region: str, spec: AlarmSpec, period_wall_s: float, now_s: float) -> list[Datapoint]:
        """The evaluation range's datapoints, oldest first: the complete periods before ``now_s``."""
        end = math.floor(now_s / period_wall_s) * period_wall_s
        start = end - spec.range_periods * period_wall_s
        with self._lock:
            found = [s for s in self._samples.get((region, spec.namespace, spec.metric_name, spec.dimensions), ())
                     if start <= s.timestamp_s < end and (spec.unit is None or s.unit == spec.unit)]
        buckets: list[list[MetricSample]] = [[] for _ in range(spec.range_periods)]
        for sample in found:
            index = min(int((sample.timestamp_s - start) // period_wall_s), spec.range_periods - 1)
            buckets[index].append(sample)
        points = []
        for index, bucket in enumerate(buckets):
            computed = statistics.compute(spec.statistic, bucket)
            begin = start + index * period_wall_s
            points.append(Datapoint(begin, computed[0], computed[1]) if computed else Datapoint(begin, None))
        return points
