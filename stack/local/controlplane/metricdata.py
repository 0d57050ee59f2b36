"""CloudWatch's stored metric data: a distribution kept as sent, and old data rolled up as AWS ages it.

moto stores each PutMetricData member in a per-Region list (``metric_data``) for as long as the process
lives, and a member sent as Values and Counts as one object per count. Here:

- ``Distribution`` keeps a Values/Counts member as one datum (moto reads it as the statistic set it also
  is; the local percentiles weigh each value by its count);
- ``Retention`` ages the data as CloudWatch does (GetMetricStatistics' API reference): data with a period
  under 60 s is kept for 3 hours, 60 s for 15 days, 300 s for 63 days and 3,600 s for 455 days; data
  published at a shorter period is aggregated into the longer one. Once a datum is 3 hours old it is rolled
  into its minute, a minute 15 days old into its 5 minutes, and so on; an hour 455 days old is dropped.
  These are AWS durations, scaled to the wall clock by the stack's time scale like every other (at 0.1,
  raw data is kept 18 minutes). A rolled datum keeps the values and counts it merged, so percentiles stay
  computable at the coarser period (statistic sets add to the five statistics only, as when they were raw).

Without it a built, idle stack's publishers (checkout's request metrics above all) added several MB a minute
to the supervisor, for good.

A Region's list is then [rolled data, coarsest tier first] + [raw data, in arrival order]. Each part is
rolled from its front while it is old enough, so data sent with an old timestamp waits behind newer arrivals
(at most the raw retention). Writers append, and a roll-up replaces slices, under ``Retention.lock``; moto's
readers walk a copy (``get_all_metrics``), and so does GetMetricStatistics here.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.models import Dimension, MetricAggregatedDatum, MetricDatum

from base.timescale import TimeScale

HOUR, DAY = 3600.0, 86400.0
RAW_KEPT_S = 3 * HOUR  # data with a period under 60 s
# (the period a datum is rolled into, how old (AWS seconds) data of the previous tier is when it is)
TIERS = ((60.0, RAW_KEPT_S), (300.0, 15 * DAY), (3600.0, 63 * DAY))
DROPPED_AFTER_S = 455 * DAY  # the last tier's data is gone after this
ROLL_EVERY_AWS_S = 60.0  # a Region is rolled up at most once per (scaled) minute


class Distribution(MetricAggregatedDatum):
    """Values with their counts (how often each occurred): a statistic set that also carries its values.

    ``period_s`` is the period a roll-up merged it into (None: as sent)."""

    def __init__(self, namespace: str, name: str, values: Iterable[float], counts: Iterable[float],
                 dimensions: list[dict[str, str]], timestamp: datetime | None, unit: str | None,
                 stats: tuple[float, float, float, float] | None = None, period_s: float | None = None) -> None:
        self.values, self.counts = tuple(values), tuple(counts)
        count, total, low, high = stats if stats is not None else (
            sum(self.counts), sum(v * c for v, c in zip(self.values, self.counts, strict=True)), min(self.values), max(self.values))
        super().__init__(namespace, name, min_stat=low, max_stat=high, sample_count=count, sum_stat=total,
                         dimensions=dimensions, timestamp=timestamp, unit=unit)
        self.period_s = period_s


@dataclass
class _Region:
    data: list[Any]  # the list moto's backend holds: [tier 3][tier 2][tier 1][raw]
    sizes: list[int] = field(default_factory=lambda: [0] * len(TIERS))  # how many rolled data each tier holds, finest first
    raw_offset: int = 0  # how many raw data have left the front of the raw part (rolled up) since the start
    rolled_at: float = 0.0

    def start(self, level: int) -> int:
        """Where ``level`` begins in ``data`` (0: the raw data; n: tier n): after every coarser tier."""
        return sum(self.sizes[level:])


class Retention:
    """The roll-up of every Region's stored data, and positions in the raw data that survive it."""

    def __init__(self, timescale: TimeScale) -> None:
        self.timescale = timescale
        self.lock = threading.Lock()  # held by every writer of a Region's data, and by the roll-up
        self._regions: dict[str, _Region] = {}
        self._dimensions: dict[tuple[tuple[str, str], ...], list[Dimension]] = {}

    def dimensions(self, given: Iterable[Mapping[str, str]]) -> list[Dimension]:
        """moto's Dimension list for ``given`` (in its order): one list per distinct set, shared by every datum
        that has it (moto only reads them; two objects per datum were most of a stored datum's size)."""
        key = tuple((str(d["Name"]), str(d["Value"])) for d in given)
        found = self._dimensions.get(key)
        if found is None:
            found = self._dimensions[key] = [Dimension(name, value) for name, value in key]
        return found

    def raw_after(self, region: str, data: list[Any], position: int) -> tuple[list[Any], int]:
        """The raw data of ``data`` (moto's list for ``region``) after raw ``position``, and the new position.

        Positions count raw data from the store's start, so they stay valid across roll-ups; a position past
        the end (moto was reset: ``_state`` started the Region afresh) starts over."""
        with self.lock:
            state = self._state(region, data)
            rolled = state.start(0)
            start = rolled + max(0, position - state.raw_offset)
            if start > len(data):
                start = rolled
            return data[start:], state.raw_offset + len(data) - rolled

    def roll_up(self, region: str, backend: Any, now_s: float, force: bool = False) -> None:
        """Age ``backend``'s data as of epoch ``now_s`` (at most once per scaled minute unless ``force``).

        The caller holds ``lock``."""
        state = self._state(region, backend.metric_data)
        if not force and now_s - state.rolled_at < self.timescale.to_wall(ROLL_EVERY_AWS_S):
            return
        state.rolled_at = now_s
        data = state.data
        # Each level's data old enough for the next tier is merged into it, from the level's front: the next tier
        # ends where the level begins, so that is one slice of the list (no copy of the rest, no new list).
        for level, (period_s, age_s) in enumerate(TIERS):
            start = state.start(level)
            end = len(data) if level == 0 else start + state.sizes[level - 1]
            moving = self._old(data, start, end, now_s - self.timescale.to_wall(age_s), period_s)
            if moving == start:
                continue
            merged = self._merge(data[start:moving], period_s)
            data[start:moving] = merged
            if level == 0:
                state.raw_offset += moving - start
            else:
                state.sizes[level - 1] -= moving - start
            state.sizes[level] += len(merged)
        gone = self._old(data, 0, state.sizes[-1], now_s - self.timescale.to_wall(DROPPED_AFTER_S), TIERS[-1][0])
        del data[:gone]
        state.sizes[-1] -= gone

    def _old(self, data: list[Any], start: int, end: int, before_s: float, period_aws_s: float) -> int:
        """The end of the run of data from ``start`` (up to ``end``) in (scaled) periods that ended by ``before_s``."""
        cutoff = moto_time(self._aligned(before_s, period_aws_s))
        index = start
        while index < end and data[index].timestamp < cutoff:
            index += 1
        return index

    def _state(self, region: str, data: list[Any]) -> _Region:
        state = self._regions.get(region)
        if state is None or state.data is not data:  # first seen, or moto was reset: all of it is raw
            state = self._regions[region] = _Region(data)
        return state

    def _aligned(self, epoch_s: float, period_aws_s: float) -> float:
        """``epoch_s`` rounded down to the start of its (scaled) period, periods aligned on the epoch."""
        period = self.timescale.to_wall(period_aws_s)
        return math.floor(epoch_s / period) * period

    def _merge(self, data: list[Any], period_aws_s: float) -> list[Distribution]:
        """``data`` merged per metric and (scaled) period: one Distribution each."""
        if not data:
            return []
        period = self.timescale.to_wall(period_aws_s)
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for datum in data:
            stamp = datum.timestamp.replace(tzinfo=timezone.utc).timestamp()
            key = (datum.namespace, datum.name, tuple(sorted((d.name, d.value) for d in datum.dimensions)), datum.unit,
                   math.floor(stamp / period))
            groups.setdefault(key, []).append(datum)
        merged = []
        for (namespace, name, _, unit, bucket), members in groups.items():
            counted: dict[float, float] = {}  # value -> how often it occurred
            count = total = 0.0
            low, high = math.inf, -math.inf
            for datum in members:
                if isinstance(datum, MetricDatum):
                    counted[datum.value] = counted.get(datum.value, 0.0) + 1.0
                    count, total, low, high = count + 1.0, total + datum.value, min(low, datum.value), max(high, datum.value)
                    continue
                for value, times in zip(getattr(datum, "values", ()), getattr(datum, "counts", ()), strict=True):
                    counted[value] = counted.get(value, 0.0) + times
                count, total = count + datum.sample_count, total + datum.sum
                low, high = min(low, datum.min), max(high, datum.max)
            values = sorted(counted)
            rolled = Distribution(namespace, name, values, [counted[v] for v in values], [], moto_time(bucket * period), unit,
                                  stats=(count, total, low, high), period_s=period_aws_s)
            rolled.dimensions = members[0].dimensions  # shared: moto only reads them
            merged.append(rolled)
        return merged


def moto_time(epoch_s: float) -> datetime:
    """An epoch time as moto keeps timestamps: a naive datetime in UTC."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).replace(tzinfo=None)
