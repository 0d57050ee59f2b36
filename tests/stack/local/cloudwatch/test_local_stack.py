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
import dns.message
import dns.query

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


def _answer(local_stack: LocalStackInfo, name: str) -> list[str]:
    query = dns.message.make_query(name, "A")
    response = dns.query.udp(query, local_stack.dns_host, port=local_stack.dns_port, timeout=2)
    return sorted(item.address for rrset in response.answer for item in rrset)


def test_a_cloudwatch_metric_health_check_fails_over_with_its_alarm(local_stack: LocalStackInfo) -> None:
    """Route 53 follows the alarm: in ALARM the primary's check fails and DNS answers the secondary."""
    session = boto3.session.Session(**LOCAL_CREDENTIALS)
    cloudwatch = session.client("cloudwatch", region_name="us-east-1", endpoint_url=local_stack.aws_endpoint)
    route53 = session.client("route53", region_name="us-east-1", endpoint_url=local_stack.aws_endpoint)
    name = f"checkout-errors-{uuid.uuid4().hex[:8]}"
    dimensions = [{"Name": "Region", "Value": "us-east-1"}, {"Name": "Alarm", "Value": name}]
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="SecureCart/Checkout", MetricName="Errors",
                                Dimensions=dimensions, Statistic="Sum", Period=PERIOD_S, EvaluationPeriods=1,
                                Threshold=5.0, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
    zone_name = f"{name}.example."
    zone = route53.create_hosted_zone(Name=zone_name, CallerReference=name)["HostedZone"]["Id"]
    check = route53.create_health_check(CallerReference=name, HealthCheckConfig={
        "Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {"Region": "us-east-1", "Name": name},
        "InsufficientDataHealthStatus": "Unhealthy"})["HealthCheck"]
    records = [{"Name": f"shop.{zone_name}", "Type": "A", "TTL": 5, "SetIdentifier": role, "Failover": role,
                "ResourceRecords": [{"Value": address}], **({"HealthCheckId": check["Id"]} if role == "PRIMARY" else {})}
               for role, address in (("PRIMARY", "127.16.1.10"), ("SECONDARY", "127.17.1.10"))]
    created = False
    try:
        assert check["HealthCheckConfig"]["AlarmIdentifier"] == {"Region": "us-east-1", "Name": name}
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": r} for r in records]})
        created = True
        until(lambda: _answer(local_stack, f"shop.{zone_name}") == ["127.16.1.10"], 30,
              "the primary answered while the alarm is OK")
        cloudwatch.put_metric_data(Namespace="SecureCart/Checkout", MetricData=[
            {"MetricName": "Errors", "Dimensions": dimensions, "Value": 40.0, "Unit": "Count", "StorageResolution": 1}])
        until(lambda: _answer(local_stack, f"shop.{zone_name}") == ["127.17.1.10"], 30,
              f"the secondary answered once {name} is in ALARM")
        [observation] = route53.get_health_check_status(HealthCheckId=check["Id"])["HealthCheckObservations"]
        assert observation["StatusReport"]["Status"].startswith(f"Failure: the CloudWatch alarm {name}")
    finally:
        if created:
            route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
                {"Action": "DELETE", "ResourceRecordSet": r} for r in records]})
        route53.delete_health_check(HealthCheckId=check["Id"])
        route53.delete_hosted_zone(Id=zone)
        cloudwatch.delete_alarms(AlarmNames=[name])
