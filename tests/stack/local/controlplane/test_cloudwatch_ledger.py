"""The alarm ledger: an alarm being put is hidden from the evaluator until the control plane has set its state."""
from __future__ import annotations

import uuid

from stack.local.controlplane import backends
from stack.local.controlplane.cloudwatch import Ledger
from stack.local.part import ApiRequest


def test_an_alarm_is_not_evaluated_between_moto_storing_it_and_its_initial_state() -> None:
    ledger = Ledger(["us-east-1"])
    name = f"racing-{uuid.uuid4().hex[:8]}"
    request = ApiRequest("cloudwatch", "PutMetricAlarm", "us-east-1", {"AlarmName": name})
    ledger.before_put(request)
    backends.cloudwatch("us-east-1").put_metric_alarm(  # what moto does with the call: stored as OK
        name=name, namespace="ns", metric_name="m", comparison_operator="GreaterThanThreshold", evaluation_periods=1,
        period=60, threshold=1.0, statistic="Average", description="", dimensions=[], alarm_actions=[])
    assert name not in {a["AlarmName"] for a in ledger.alarms("us-east-1")}
    assert not ledger.set_state("us-east-1", name, "INSUFFICIENT_DATA", "evaluated too early", "{}")
    ledger.after_put(request, "MetricAlarm")
    [shown] = [a for a in ledger.alarms("us-east-1") if a["AlarmName"] == name]
    assert shown["StateValue"] == "INSUFFICIENT_DATA"
    history = ledger.history("us-east-1", {"AlarmName": name})["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [f'Alarm "{name}" created']
    backends.cloudwatch("us-east-1").delete_alarms([name])
