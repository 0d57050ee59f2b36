"""Alarms on the control plane plus the cloudwatch part, through boto3: evaluation, history, actions, composites."""
from __future__ import annotations

import json
import time
from typing import Any

from base.deadline import until
from tests.stack.local.cloudwatch.conftest import Stack, unique

NAMESPACE = "SecureCart/Checkout"
REGION_DIMENSION = [{"Name": "Region", "Value": "us-east-1"}]


def latency_alarm(cw: Any, name: str, **extra: Any) -> None:
    cw.put_metric_alarm(**{"AlarmName": name, "Namespace": NAMESPACE, "MetricName": name, "ExtendedStatistic": "p95",
                           "Dimensions": REGION_DIMENSION, "Period": 10, "EvaluationPeriods": 1, "Threshold": 500.0,
                           "ComparisonOperator": "GreaterThanThreshold", **extra})


def alarm(cw: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return found


def publish(cw: Any, metric: str, *values: float) -> None:
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[
        {"MetricName": metric, "Dimensions": REGION_DIMENSION, "Values": list(values), "Unit": "Milliseconds"}])


def test_a_new_alarm_starts_insufficient_and_breaching_data_alarms_with_history(stack: Stack) -> None:
    cw, name = stack.client(), unique("p95")
    latency_alarm(cw, name)
    assert alarm(cw, name)["StateValue"] == "INSUFFICIENT_DATA"
    publish(cw, name, 100.0, 200.0, 900.0, 950.0)  # p95 of four values: 950
    until(lambda: alarm(cw, name)["StateValue"] == "ALARM", 10, f"{name} in ALARM", 0.05)
    found = alarm(cw, name)
    assert "was greater than the threshold (500.0)" in found["StateReason"]
    assert json.loads(found["StateReasonData"])["recentDatapoints"] == [950.0]
    history = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert [(h["HistoryItemType"], h["HistorySummary"]) for h in history] == [
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM"),
        ("ConfigurationUpdate", f'Alarm "{name}" created')]
    assert json.loads(history[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"


def test_an_update_keeps_the_state(stack: Stack) -> None:
    cw, name = stack.client(), unique("kept")
    latency_alarm(cw, name, TreatMissingData="breaching")
    until(lambda: alarm(cw, name)["StateValue"] == "ALARM", 10, f"{name} in ALARM (missing data breaches)", 0.05)
    latency_alarm(cw, name, TreatMissingData="breaching", AlarmDescription="updated")
    assert alarm(cw, name)["StateValue"] == "ALARM"
    kinds = [h["HistorySummary"] for h in cw.describe_alarm_history(AlarmName=name, HistoryItemType="ConfigurationUpdate")
             ["AlarmHistoryItems"]]
    assert kinds == [f'Alarm "{name}" updated', f'Alarm "{name}" created']


def test_not_breaching_data_is_ok(stack: Stack) -> None:
    cw, name = stack.client(), unique("fine")
    latency_alarm(cw, name)
    publish(cw, name, 100.0, 120.0)
    until(lambda: alarm(cw, name)["StateValue"] == "OK", 10, f"{name} OK", 0.05)
    assert "were not greater than" in alarm(cw, name)["StateReason"] or "was not greater than" in alarm(cw, name)["StateReason"]


def test_the_alarm_action_notifies_the_sns_topic(stack: Stack) -> None:
    cw, sns, sqs = stack.client(), stack.client("sns"), stack.client("sqs")
    name = unique("notify")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    latency_alarm(cw, name, AlarmActions=[topic])
    publish(cw, name, 800.0)
    until(lambda: alarm(cw, name)["StateValue"] == "ALARM", 10, f"{name} in ALARM", 0.05)
    messages: list[dict[str, Any]] = []

    def received() -> bool:
        messages.extend(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []))
        return bool(messages)

    until(received, 10, f"the notification of {name} in {queue}", 0.1)
    body = json.loads(messages[0]["Body"])
    assert (body["AlarmName"], body["OldStateValue"], body["NewStateValue"]) == (name, "INSUFFICIENT_DATA", "ALARM")
    assert body["Trigger"]["ExtendedStatistic"] == "p95"
    actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert actions[0]["HistorySummary"] == f"Successfully executed action {topic}"
    sns.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue)


def test_a_composite_alarm_follows_its_rule(stack: Stack) -> None:
    cw = stack.client()
    slow, fine, composite = unique("slow"), unique("fine"), unique("both")
    latency_alarm(cw, slow)
    latency_alarm(cw, fine)
    cw.put_composite_alarm(AlarmName=composite, AlarmRule=f'ALARM("{slow}") AND NOT ALARM("{fine}")')
    publish(cw, slow, 900.0)
    publish(cw, fine, 10.0)

    def state() -> str:
        found = cw.describe_alarms(AlarmNames=[composite], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
        return str(found[0]["StateValue"])

    until(lambda: state() == "ALARM", 10, f"composite {composite} in ALARM", 0.05)
    history = cw.describe_alarm_history(AlarmName=composite, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history[0]["AlarmType"] == "CompositeAlarm"
    assert json.loads(history[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"


def test_a_hand_set_state_is_history_and_the_next_evaluation_corrects_it(stack: Stack) -> None:
    cw, name = stack.client(), unique("manual")
    latency_alarm(cw, name, TreatMissingData="notBreaching")
    until(lambda: alarm(cw, name)["StateValue"] == "OK", 10, f"{name} OK", 0.05)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the notification")
    until(lambda: alarm(cw, name)["StateValue"] == "OK", 10, f"{name} back to OK at the next period", 0.05)
    summaries = [h["HistorySummary"] for h in cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
                 ["AlarmHistoryItems"]]
    assert summaries[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]


def test_get_metric_statistics_reads_the_exact_dimensions_with_percentiles(stack: Stack) -> None:
    cw, metric = stack.client(), unique("stats")
    start = time.time()
    region_only = [{"Name": "Region", "Value": "us-east-1"}]
    with_vantage = region_only + [{"Name": "VantagePoint", "Value": "virginia"}]
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[
        {"MetricName": metric, "Dimensions": region_only, "Values": [float(v) for v in range(1, 101)]},
        {"MetricName": metric, "Dimensions": with_vantage, "Values": [1000.0]}])
    found = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName=metric, Dimensions=region_only, Period=60,
                                     StartTime=start - 1, EndTime=time.time() + 1,
                                     Statistics=["SampleCount", "Maximum"], ExtendedStatistics=["p95"])
    [point] = found["Datapoints"]
    assert (point["SampleCount"], point["Maximum"], point["ExtendedStatistics"]["p95"]) == (100.0, 100.0, 95.0)
