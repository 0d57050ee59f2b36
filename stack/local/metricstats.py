"""CloudWatch's statistics over one period's samples: the five standard ones and percentiles (pNN).

Shared by the control plane (GetMetricStatistics) and the cloudwatch part (alarm evaluation).

A sample is a single value (count 1), a statistic set (SampleCount, Sum, Minimum, Maximum), or values
with their counts (PutMetricData's Values/Counts). The standard statistics combine all three; a
percentile needs the values, so a period holding only statistic sets has no percentile (AWS:
percentiles need values, or Values/Counts).
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

from stack.local.services import MetricSample

_PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d+)?)$")


def percentile_of(name: str) -> float | None:
    """95.0 for "p95", 99.9 for "p99.9"; None for any other statistic."""
    match = _PERCENTILE.match(name)
    if match is None:
        return None
    value = float(match.group(1))
    return value if 0 <= value <= 100 else None


def supported(name: str) -> bool:
    return name in ("SampleCount", "Average", "Sum", "Minimum", "Maximum") or percentile_of(name) is not None


def compute(name: str, samples: Sequence[MetricSample]) -> tuple[float, float] | None:
    """(value, sample count) of statistic ``name`` over ``samples``; None when the period has no datapoint."""
    count = sum(s.sample_count for s in samples)
    if not samples or count <= 0:
        return None
    if name == "SampleCount":
        return count, count
    if name == "Sum":
        return sum(s.sum for s in samples), count
    if name == "Average":
        return sum(s.sum for s in samples) / count, count
    if name == "Minimum":
        return min(s.minimum for s in samples), count
    if name == "Maximum":
        return max(s.maximum for s in samples), count
    wanted = percentile_of(name)
    if wanted is None:
        raise ValueError(f"statistic {name!r} is not evaluated by the local stack")
    counted = sorted((value, count) for s in samples
                     for value, count in zip(s.values, s.counts or itertools.repeat(1.0), strict=False) if count > 0)
    total = sum(count for _, count in counted)
    if total <= 0:
        return None  # statistic sets only: no percentile
    # Nearest rank, each value counted as often as it occurred: the smallest value with at least
    # `wanted`% of the count at or below it.
    rank = max(1, math.ceil(wanted / 100 * total))
    seen = 0.0
    for value, count in counted:
        seen += count
        if seen >= rank:
            return value, total
    return counted[-1][0], total  # fractional counts that add up to less than one
