"""The done-when, against the running local stack: a boto3 user's breaching data puts the alarm in ALARM, with history.

The alarm's period is 10 s (high resolution), 1 s of wall clock at the default time_scale 0.1. The
state change must come within one scaled period plus 1 s of the datapoint (the stack's own figure,
benchmarks/bench_cloudwatch.py measures it); the history's timestamps are the stack's, so the
check does not include the client's polling.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

import boto3

from base.deadline import until
from environments.model import LocalEnvironment
from gameday.fixtures import LocalStackInfo
from stack.local.part import LOCAL_CREDENTIALS

PERIOD_S = 10


def test_breaching_data_alarms_within_one_scaled_period(local_stack: LocalStackInfo, gameday_environment: Any) -> None:
    assert isinstance(gameday_environment, LocalEnvironment)
    session = boto3.session.Session(**LOCAL_CREDENTIALS)
    cloudwatch = session.client("cloudwatch", region_name="us-east-1", endpoint_url=local_stack.aws_endpoint)
    name = f"checkout-p95-{uuid.uuid4().hex[:8]}"
    dimensions = [{"Name": "Region", "Value": "us-east-1"}, {"Name": "Alarm", "Value": name}]
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="SecureCart/Checkout", MetricName="Latency",
                                Dimensions=dimensions, ExtendedStatistic="p95", Period=PERIOD_S, EvaluationPeriods=1,
                                Threshold=500.0, ComparisonOperator="GreaterThanThreshold", Unit="Milliseconds")
    try:
        put_at = time.time()
        cloudwatch.put_metric_data(Namespace="SecureCart/Checkout", MetricData=[{
            "MetricName": "Latency", "Dimensions": dimensions, "Unit": "Milliseconds", "StorageResolution": 1,
            "Values": [180.0, 720.0], "Counts": [5.0, 95.0]}])
        until(lambda: cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "ALARM", 30,
              f"alarm {name} in ALARM")
        alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [720.0]
        history = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
        assert [h["HistorySummary"] for h in history] == ["Alarm updated from INSUFFICIENT_DATA to ALARM",
                                                          f'Alarm "{name}" created']
        changed: datetime = history[0]["Timestamp"]
        goal_s = gameday_environment.timescale.to_wall(PERIOD_S) + 1.0
        assert changed.timestamp() - put_at <= goal_s, (
            f"the alarm changed {changed.timestamp() - put_at:.2f} s after the datapoint; goal {goal_s:.2f} s")
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])
