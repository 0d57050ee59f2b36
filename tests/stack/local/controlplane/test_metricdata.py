"""CloudWatch's retention in the local store: old data rolled up as AWS ages it, without changing the answers."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum

from base.timescale import TimeScale
from stack.local import metricstats
from stack.local.controlplane import backends
from stack.local.controlplane.cloudwatch import _sample
from stack.local.controlplane.metricdata import DAY, HOUR, Distribution, Retention, moto_time
from stack.local.endpoint import AwsEndpoint
from stack.local.part import LOCAL_CREDENTIALS

SCALE = TimeScale(0.1)
NOW = 1_800_000_000.0  # an epoch second on a whole hour
DIMENSIONS = [{"Name": "InstanceId", "Value": "i-1"}]
STATISTICS = ["SampleCount", "Sum", "Minimum", "Maximum", "p0", "p50", "p90", "p99", "p100"]


def value(age_aws_s: float, v: float, name: str = "Latency") -> MetricDatum:
    return MetricDatum("SecureCart/Checkout", name, v, DIMENSIONS, moto_time(NOW - SCALE.to_wall(age_aws_s)), "Milliseconds")


def counted(age_aws_s: float, histogram: dict[float, float]) -> Distribution:
    return Distribution("SecureCart/Checkout", "Latency", list(histogram), list(histogram.values()), DIMENSIONS,
                        moto_time(NOW - SCALE.to_wall(age_aws_s)), "Milliseconds")


def statistic_set(age_aws_s: float, count: float, total: float, low: float, high: float) -> MetricAggregatedDatum:
    return MetricAggregatedDatum("SecureCart/Checkout", "Latency", low, high, count, total, DIMENSIONS,
                                 moto_time(NOW - SCALE.to_wall(age_aws_s)), "Milliseconds")


def answers(data: list[Any], period_aws_s: float) -> dict[int, dict[str, Any]]:
    """Each statistic per (scaled) period aligned on the epoch, as a query over the store would draw it."""
    period = SCALE.to_wall(period_aws_s)
    buckets: dict[int, list[Any]] = {}
    for datum in data:
        sample = _sample("us-east-1", datum)
        buckets.setdefault(math.floor(sample.timestamp_s / period), []).append(sample)
    return {index: {name: _rounded(metricstats.compute(name, samples)) for name in STATISTICS}
            for index, samples in buckets.items()}


def _rounded(computed: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if computed is None else (round(computed[0], 6), round(computed[1], 6))


def rolled(data: list[Any], now_s: float = NOW) -> tuple[Retention, Any]:
    retention, backend = Retention(SCALE), SimpleNamespace(metric_data=list(data))
    with retention.lock:
        retention.roll_up("us-east-1", backend, now_s, force=True)
    return retention, backend


AGES = st.floats(0, 6 * HOUR)  # AWS seconds: half of them past the 3 hours raw data is kept
DATA = st.lists(st.one_of(
    st.builds(value, AGES, st.integers(0, 500).map(lambda tenths: tenths / 10)),
    st.builds(counted, AGES, st.dictionaries(st.integers(0, 500).map(lambda tenths: tenths / 10), st.integers(1, 20).map(float),
                                             min_size=1, max_size=8)),
    st.builds(lambda age, n, low: statistic_set(age, n, n * (low + 1), low, low + 2), AGES, st.integers(1, 50).map(float),
              st.integers(0, 100).map(float)),
), max_size=60)


@settings(max_examples=60, deadline=None)
@given(DATA)
def test_a_roll_up_changes_no_answer_at_a_minute_or_longer(data: list[Any]) -> None:
    data.sort(key=lambda d: d.timestamp)  # in time order, as publishers send: all that is old is rolled
    _, backend = rolled(data)
    for period in (60.0, 300.0):
        assert answers(backend.metric_data, period) == answers(data, period)


@settings(max_examples=30, deadline=None)
@given(DATA)
def test_only_data_older_than_three_hours_is_rolled_into_its_minute(data: list[Any]) -> None:
    retention, backend = rolled(data)
    cutoff = moto_time(math.floor((NOW - SCALE.to_wall(3 * HOUR)) / SCALE.to_wall(60)) * SCALE.to_wall(60))
    # The raw data is rolled from its front, while old enough: what follows the first young datum stays.
    young = data[next((i for i, d in enumerate(data) if d.timestamp >= cutoff), len(data)):]
    rolled_up = [d for d in backend.metric_data if getattr(d, "period_s", None) == 60.0]
    assert backend.metric_data[len(rolled_up):] == young  # the raw data left, in arrival order, after the rolled
    assert all(d.timestamp < cutoff for d in rolled_up)
    minutes = [(d.name, d.timestamp) for d in rolled_up]
    assert len(minutes) == len(set(minutes))  # one datum per metric and minute
    assert retention.raw_after("us-east-1", backend.metric_data, 0)[0] == young


def test_each_tier_ages_into_the_next_and_the_last_is_dropped() -> None:
    data = [value(456 * DAY, 5.0), value(64 * DAY, 4.0), value(16 * DAY, 3.0), value(4 * HOUR, 2.0), value(2 * HOUR, 1.0)]
    _, backend = rolled(data)
    kept = {d.sum if hasattr(d, "sum") else d.value: getattr(d, "period_s", None) for d in backend.metric_data}
    assert kept == {1.0: None, 2.0: 60.0, 3.0: 300.0, 4.0: 3600.0}  # 5.0 was 455 days old: gone


def test_a_position_in_the_raw_data_survives_a_roll_up() -> None:
    old = [value(4 * HOUR, float(v)) for v in range(10)]
    young = [value(60, float(v)) for v in range(12)]
    retention, backend = Retention(SCALE), SimpleNamespace(metric_data=old + young)
    first, position = retention.raw_after("us-east-1", backend.metric_data, 0)
    assert first == old + young
    new = [value(30, float(v)) for v in range(10)]
    with retention.lock:
        retention.roll_up("us-east-1", backend, NOW, force=True)  # the 10 old data become one minute
        backend.metric_data.extend(new)
    assert len(backend.metric_data) == 1 + 12 + 10
    later, position = retention.raw_after("us-east-1", backend.metric_data, position)
    assert later == new
    assert retention.raw_after("us-east-1", backend.metric_data, position) == ([], position)


def test_a_reset_store_is_read_from_its_start() -> None:
    retention, backend = rolled([value(4 * HOUR, 1.0), value(60, 2.0)])
    _, position = retention.raw_after("us-east-1", backend.metric_data, 0)
    backend.metric_data = [value(10, 3.0)]  # moto's reset gives the Region a new list
    assert [d.value for d in retention.raw_after("us-east-1", backend.metric_data, position)[0]] == [3.0]


def test_a_region_is_rolled_up_once_per_scaled_minute() -> None:
    retention, backend = Retention(SCALE), SimpleNamespace(metric_data=[value(4 * HOUR, 1.0)])
    with retention.lock:
        retention.roll_up("us-east-1", backend, NOW - 1)
        backend.metric_data.append(value(4 * HOUR, 2.0))
        retention.roll_up("us-east-1", backend, NOW)  # 1 s later: not yet (a minute is 6 s at 0.1)
        assert type(backend.metric_data[-1]) is MetricDatum
        retention.roll_up("us-east-1", backend, NOW + SCALE.to_wall(60))
    assert all(isinstance(d, Distribution) for d in backend.metric_data)


def test_the_endpoint_rolls_up_old_data_and_answers_as_before(edge: AwsEndpoint) -> None:
    """Through PutMetricData and GetMetricStatistics, at the stack's default time scale (raw data kept 18 minutes)."""
    region = "sa-east-1"  # no other test puts data here: its first put rolls up at once
    client = boto3.client("cloudwatch", region_name=region, endpoint_url=edge.url, **LOCAL_CREDENTIALS)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    old = now - timedelta(minutes=40)  # older than 3 AWS-hours at time scale 0.1
    client.put_metric_data(Namespace="Gameday/Retention", MetricData=[
        {"MetricName": "Latency", "Dimensions": DIMENSIONS, "Timestamp": old + timedelta(seconds=s), "Values": [1.0, 9.0],
         "Counts": [3.0, 1.0]} for s in range(0, 50, 2)] + [{"MetricName": "Latency", "Dimensions": DIMENSIONS, "Value": 5.0}])
    stored = [d for d in backends.cloudwatch(region).metric_data if d.namespace == "Gameday/Retention"]
    assert [getattr(d, "period_s", None) for d in stored] == [60.0] * 9 + [None]  # 50 s: nine 6-s minutes; the new one raw
    points = client.get_metric_statistics(
        Namespace="Gameday/Retention", MetricName="Latency", Dimensions=DIMENSIONS, StartTime=old - timedelta(minutes=1),
        EndTime=now + timedelta(minutes=1), Period=3600, Statistics=["SampleCount", "Sum", "Maximum"], ExtendedStatistics=["p50"])
    assert [(p["SampleCount"], p["Sum"], p["Maximum"], p["ExtendedStatistics"]) for p in points["Datapoints"]] == [
        (101.0, 25 * 12.0 + 5.0, 9.0, {"p50": 1.0})]
