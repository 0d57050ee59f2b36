"""CloudWatch input AWS rejects and moto accepts (the control plane answers with AWS's code and status), and
PutMetricData's Values/Counts as the control plane stores them."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.local.controlplane import backends


def _alarm(**extra: Any) -> dict[str, Any]:
    return {"AlarmName": f"bad-{uuid.uuid4().hex[:8]}", "Namespace": "SecureCart/Checkout", "MetricName": "Latency",
            "Statistic": "Average", "Period": 60, "EvaluationPeriods": 3, "Threshold": 500.0,
            "ComparisonOperator": "GreaterThanThreshold", **extra}


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response: dict[str, Any] = raised.value.response
    return response


@pytest.mark.parametrize("extra,code,fragment", [
    ({"DatapointsToAlarm": 4}, "ValidationError", "DatapointsToAlarm must be less than or equal to EvaluationPeriods"),
    ({"Statistic": "Median"}, "ValidationError", "Value 'Median' at 'statistic' failed to satisfy constraint"),
    ({"Statistic": None, "ExtendedStatistic": "q95"}, "InvalidParameterValue", "The value q95 for parameter ExtendedStatistic"),
    ({"Period": 45}, "ValidationError", "Period must be 10, 20, 30 or a multiple of 60, got 45"),
    ({"Period": 90}, "ValidationError", "got 90"),
    ({"TreatMissingData": "zero"}, "ValidationError", "Supported options for parameter TreatMissingData"),
    ({"Period": 3000, "EvaluationPeriods": 30}, "ValidationError", "must not exceed 86400 s"),
])
def test_put_metric_alarm_rejects(edge_client: Any, extra: dict[str, Any], code: str, fragment: str) -> None:
    params = {k: v for k, v in _alarm(**extra).items() if v is not None}
    response = _error(edge_client("cloudwatch").put_metric_alarm, **params)
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in response["Error"]["Message"]
    assert not edge_client("cloudwatch").describe_alarms(AlarmNames=[params["AlarmName"]])["MetricAlarms"]


@pytest.mark.parametrize("period", [10, 20, 30, 60, 300])
def test_put_metric_alarm_takes_the_allowed_periods(edge_client: Any, period: int) -> None:
    params = _alarm(Period=period, EvaluationPeriods=1)
    cloudwatch = edge_client("cloudwatch")
    cloudwatch.put_metric_alarm(**params)
    try:
        stored = cloudwatch.describe_alarms(AlarmNames=[params["AlarmName"]])["MetricAlarms"]
        assert [(alarm["AlarmName"], alarm["Period"]) for alarm in stored] == [(params["AlarmName"], period)]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[params["AlarmName"]])


def test_put_metric_data_takes_at_most_1000_metrics(edge_client: Any) -> None:
    datum = {"MetricName": "Latency", "Value": 1.0}
    response = _error(edge_client("cloudwatch").put_metric_data, Namespace="SecureCart/Checkout", MetricData=[datum] * 1001)
    assert response["Error"]["Code"] == "InvalidParameterValue"
    assert "The collection MetricData must not have a size greater than 1000 (got 1001)" in response["Error"]["Message"]
    edge_client("cloudwatch").put_metric_data(Namespace="SecureCart/Checkout", MetricData=[datum] * 1000)


def test_put_metric_data_takes_at_most_150_values_per_metric(edge_client: Any) -> None:
    datum = {"MetricName": "Latency", "Values": [float(v) for v in range(151)]}
    response = _error(edge_client("cloudwatch").put_metric_data, Namespace="SecureCart/Checkout", MetricData=[datum])
    assert response["Error"]["Code"] == "InvalidParameterValue"
    assert "MetricData.member.1.Values must not have a size greater than 150" in response["Error"]["Message"]


def test_put_composite_alarm_rejects_a_rule_it_cannot_read(edge_client: Any) -> None:
    response = _error(edge_client("cloudwatch").put_composite_alarm, AlarmName="c-bad", AlarmRule='ALARM("a") AND')
    assert response["Error"]["Code"] == "InvalidParameterValue"
    assert "AlarmRule ends where an expression was expected" in response["Error"]["Message"]


# -- Values/Counts: one datum each, answering as the same values sent one by one ---------------------------

STATISTICS = ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]
PERCENTILES = ["p0", "p50", "p90", "p99", "p100"]


def _statistics(client: Any, metric: str, since: datetime) -> dict[str, Any]:
    points = client.get_metric_statistics(
        Namespace="Gameday/Test", MetricName=metric, Dimensions=[{"Name": "Host", "Value": "a"}], StartTime=since,
        EndTime=since + timedelta(minutes=10), Period=600, Statistics=STATISTICS, ExtendedStatistics=PERCENTILES)["Datapoints"]
    assert len(points) == 1
    return {k: v for k, v in points[0].items() if k != "Timestamp"}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2000).map(lambda tenths: tenths / 10), st.integers(1, 40)),
                min_size=1, max_size=20, unique_by=lambda pair: pair[0]))
def test_values_with_counts_answer_as_the_values_one_by_one(edge_client: Any, histogram: list[tuple[float, int]]) -> None:
    client = edge_client("cloudwatch")
    since = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    stamp = since + timedelta(minutes=1)
    tag = uuid.uuid4().hex[:8]
    dimensions = [{"Name": "Host", "Value": "a"}]
    client.put_metric_data(Namespace="Gameday/Test", MetricData=[{
        "MetricName": f"counted-{tag}", "Values": [v for v, _ in histogram], "Counts": [float(c) for _, c in histogram],
        "Dimensions": dimensions, "Timestamp": stamp, "Unit": "Milliseconds"}])
    singles = [{"MetricName": f"single-{tag}", "Value": v, "Dimensions": dimensions, "Timestamp": stamp, "Unit": "Milliseconds"}
               for v, c in histogram for _ in range(c)]
    for start in range(0, len(singles), 1000):
        client.put_metric_data(Namespace="Gameday/Test", MetricData=singles[start:start + 1000])
    counted, single = _statistics(client, f"counted-{tag}", since), _statistics(client, f"single-{tag}", since)
    assert counted.pop("Average") == pytest.approx(single.pop("Average"))
    assert counted.pop("Sum") == pytest.approx(single.pop("Sum"))
    assert counted == single
    assert counted["SampleCount"] == sum(c for _, c in histogram)
    queries = [{"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": "Gameday/Test", "MetricName": name, "Dimensions": dimensions},
                                              "Period": 600, "Stat": stat}}
               for i, (name, stat) in enumerate((f"{kind}-{tag}", stat) for kind in ("counted", "single") for stat in STATISTICS)]
    results = {r["Id"]: r["Values"] for r in client.get_metric_data(MetricDataQueries=queries, StartTime=since,
                                                                     EndTime=since + timedelta(minutes=10))["MetricDataResults"]}
    for i in range(len(STATISTICS)):
        assert results[f"q{i}"] == pytest.approx(results[f"q{i + len(STATISTICS)}"])


def test_values_with_counts_are_kept_as_one_datum(edge_client: Any) -> None:
    stored = backends.cloudwatch("us-east-1").metric_data
    before = len(stored)
    edge_client("cloudwatch").put_metric_data(Namespace="Gameday/Test", MetricData=[
        {"MetricName": "Latency", "Values": [1.5, 2.0, 7.25], "Counts": [5000.0, 3000.0, 0.0]},
        {"MetricName": "Requests", "Value": 8000.0, "Unit": "Count"}])
    added = stored[before:]
    assert len(added) == 2  # moto alone keeps 8,001 objects for this call
    latency = next(d for d in added if d.name == "Latency")
    assert (latency.sample_count, latency.sum, latency.min, latency.max) == (8000.0, 13500.0, 1.5, 2.0)  # 7.25 occurred 0 times


def test_put_metric_data_stores_nothing_when_one_member_is_refused(edge_client: Any) -> None:
    stored = backends.cloudwatch("us-east-1").metric_data
    before = len(stored)
    response = _error(edge_client("cloudwatch").put_metric_data, Namespace="Gameday/Test", MetricData=[
        {"MetricName": "Latency", "Values": [1.0, 2.0], "Counts": [1.0, 2.0]},
        {"MetricName": "Latency", "Values": [1.0, 2.0], "Counts": [1.0]}])
    assert response["Error"]["Code"] == "InvalidParameterValue"
    assert "MetricData.member.2.Values and MetricData.member.2.Counts must be of the same size" in response["Error"]["Message"]
    assert len(stored) == before


def test_data_of_one_metric_share_their_strings_and_dimensions(edge_client: Any) -> None:
    # Two calls, so each datum's strings come from a request body of its own.
    stored = backends.cloudwatch("us-east-1").metric_data
    before = len(stored)
    for value in (1.0, 2.0):
        edge_client("cloudwatch").put_metric_data(Namespace="Gameday/Shared", MetricData=[
            {"MetricName": "Latency", "Value": value, "Unit": "Milliseconds",
             "Dimensions": [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}]}])
    first, second = stored[before:]
    assert (first.value, second.value) == (1.0, 2.0)
    for attribute in ("namespace", "name", "unit", "dimensions"):
        assert getattr(first, attribute) is getattr(second, attribute), attribute
