"""Alarm-driven abort: a fault that breaches checkout's p95 alarm is stopped by the alarm, not by a timer.

The stop condition is a real CloudWatch alarm, "checkout p95 over 500 ms in 3 of 3 periods", on the
latency the probes publish (SecureCart/Checkout, per Region). The fault cuts the primary database's
Availability Zone off by NACL, as in the AZ-outage experiment; checkout's deep health check then
waits for a database that does not answer, so users wait too. Nobody sets the alarm's state: the
local stack evaluates it from the published data, it goes to ALARM, the guard's watcher rolls the
fault back and the run is aborted, long before the fault's planned duration ends. The report shows
the alarm's history (every state change, with CloudWatch's reason) next to the rollback.
"""
from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from experiments.scenario import Scenario
from faults import guard as guard_
from faults.network import IsolateAz
from faults.stopconditions import Aborted
from environments.model import StopCondition
from probes import metrics

PERIOD_S = 10  # high resolution: the probes publish with StorageResolution 1
EVALUATION_PERIODS = 3
THRESHOLD_MS = 500.0
PLANNED_FAULT_AWS_S = 600  # how long the fault would last if nothing stopped it


def _alarm_history(scenario: Scenario, region: str, name: str) -> list[dict[str, object]]:
    items = scenario.clients("cloudwatch", region).describe_alarm_history(
        AlarmName=name, ScanBy="TimestampAscending")["AlarmHistoryItems"]
    return [dict(item) for item in items]


@pytest.mark.gameday
@pytest.mark.az_outage
def test_a_p95_alarm_aborts_the_fault_and_rolls_it_back(scenario: Scenario) -> None:
    """Checkout p95 over 500 ms in 3 of 3 periods aborts the AZ outage and rolls it back, before its planned end."""
    database = scenario.stack.database
    assert database is not None
    region = database.region
    cloudwatch = scenario.clients("cloudwatch", region)
    dead_az = scenario.database_available().availability_zone
    subnet = scenario.stack.subnet(dead_az)
    name = f"gameday-checkout-p95-{uuid.uuid4().hex[:6]}"
    topic = scenario.clients("sns", region).create_topic(Name=name)["TopicArn"]
    cloudwatch.put_metric_alarm(
        AlarmName=name, AlarmDescription="checkout p95 over 500 ms in 3 of 3 periods (stop condition)",
        Namespace=metrics.NAMESPACE, MetricName="Latency", Dimensions=[{"Name": "Region", "Value": region}],
        ExtendedStatistic="p95", Period=PERIOD_S, EvaluationPeriods=EVALUATION_PERIODS,
        DatapointsToAlarm=EVALUATION_PERIODS, Threshold=THRESHOLD_MS, ComparisonOperator="GreaterThanThreshold",
        Unit="Milliseconds", AlarmActions=[topic], OKActions=[topic])  # TreatMissingData: missing (the default)
    session_guard = guard_.current()
    assert session_guard is not None, "the gameday plugin installs the session's guard"
    guard = guard_.Guard(dataclasses.replace(
        session_guard.policy, stop_conditions=(*session_guard.policy.stop_conditions, StopCondition(alarm_name=name, region=region)),
        watch_interval_s=scenario.interval_s))
    aborted: Aborted | None = None
    problems: list[str] = []
    try:
        # /health/deep reads the database: the path that suffers when the database's AZ is cut off.
        with scenario.observe(dns=False, checkout=True, vantage=["virginia"], path="/health/deep"):
            scenario.steady_state()
            scenario.wait_until(lambda: cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "OK",
                                f"alarm {name} OK on steady-state latency", 60)
            try:
                with scenario.inject(IsolateAz, region=region, availability_zone=dead_az, subnet_id=subnet.subnet_id,
                                     guard=guard):
                    scenario.wait_until(lambda: False, "the fault's planned duration", PLANNED_FAULT_AWS_S)
            except Aborted as stopped:
                aborted = stopped
            except AssertionError as timeout:
                problems.append(f"the fault ran its whole planned duration: the alarm never stopped it ({timeout})")
        history = _alarm_history(scenario, region, name)
        for item in history:  # the alarm's history, into the evidence (the report shows it)
            new_state = json.loads(str(item["HistoryData"])).get("newState") or {}
            scenario.timeline.record("state", f"alarm {name}: {item['HistorySummary']}", alarm=name,
                                     item_type=item["HistoryItemType"], at=str(item["Timestamp"]),
                                     reason=new_state.get("stateReason", ""))
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])
        scenario.clients("sns", region).delete_topic(TopicArn=topic)

    changes = [str(h["HistorySummary"]) for h in history if h["HistoryItemType"] == "StateUpdate"]
    if aborted is None:
        problems.append(f"the run was not aborted by {name}")
    elif aborted.alarm.name != name:
        problems.append(f"the run was aborted by {aborted.alarm.name}, not by {name}")
    else:
        scenario.timeline.record("state", "aborted by the stop condition", alarm=name,
                                 reason=aborted.alarm.reason)
        if not (aborted.alarm.reason.startswith("Threshold Crossed: ")
                and f"greater than the threshold ({THRESHOLD_MS})" in aborted.alarm.reason):
            problems.append(f"the alarm's reason is not CloudWatch's threshold reason: {aborted.alarm.reason}")
    if "Alarm updated from OK to ALARM" not in changes:
        problems.append(f"the alarm history shows no OK -> ALARM change: {changes}")
    rolled_back = scenario.timeline.of_kind("fault_rolled_back")
    if not rolled_back:
        problems.append("the fault was not rolled back")
    if not any(str(h["HistorySummary"]).startswith("Successfully executed action") for h in history):
        problems.append(f"the alarm's SNS action did not run: {[h['HistorySummary'] for h in history]}")
    verdict = scenario.judge_steady_state("alarm_driven_abort", problems)
    assert verdict.passed, "\n".join(verdict.messages)
