"""CloudWatch input AWS rejects and moto accepts: the control plane answers with AWS's code and status."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


def _alarm(**extra: Any) -> dict[str, Any]:
    return {"AlarmName": f"bad-{uuid.uuid4().hex[:8]}", "Namespace": "SecureCart/Checkout", "MetricName": "Latency",
            "Statistic": "Average", "Period": 60, "EvaluationPeriods": 3, "Threshold": 500.0,
            "ComparisonOperator": "GreaterThanThreshold", **extra}


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response


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
    edge_client("cloudwatch").put_metric_alarm(**params)
    edge_client("cloudwatch").delete_alarms(AlarmNames=[params["AlarmName"]])


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
