"""Alarm actions: the notification CloudWatch publishes to an SNS topic when an alarm changes state."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any


def topic_region(arn: str) -> str | None:
    """The Region of an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME); None for any other action."""
    parts = arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[2] == "sns" else None


def message(alarm: Mapping[str, Any], region: str, old_state: str, new_state: str, reason: str,
            account: str) -> tuple[str, str]:
    """(subject, message) of the SNS notification, in the JSON layout CloudWatch sends."""
    body: dict[str, Any] = {
        "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"), "AWSAccountId": account,
        "NewStateValue": new_state, "NewStateReason": reason,
        "StateChangeTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "Region": region, "AlarmArn": alarm.get("AlarmArn"), "OldStateValue": old_state,
        "OKActions": alarm.get("OKActions") or [], "AlarmActions": alarm.get("AlarmActions") or [],
        "InsufficientDataActions": alarm.get("InsufficientDataActions") or [],
    }
    if "AlarmRule" in alarm:
        body["AlarmRule"] = alarm["AlarmRule"]
    else:
        extended = alarm.get("ExtendedStatistic")
        body["Trigger"] = {
            "MetricName": alarm.get("MetricName"), "Namespace": alarm.get("Namespace"),
            "StatisticType": "ExtendedStatistic" if extended else "Statistic",
            **({"ExtendedStatistic": extended} if extended else {"Statistic": str(alarm.get("Statistic")).upper()}),
            "Unit": alarm.get("Unit"),
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions") or ()],
            "Period": alarm.get("Period"), "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "DatapointsToAlarm": alarm.get("DatapointsToAlarm"), "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"), "TreatMissingData": alarm.get("TreatMissingData"),
        }
    subject = f'{new_state}: "{alarm["AlarmName"]}" in {region}'[:100]
    return subject, json.dumps(body)


def actions_for(alarm: Mapping[str, Any], state: str) -> list[str]:
    key = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[state]
    return [str(a) for a in alarm.get(key) or ()] if alarm.get("ActionsEnabled", True) else []
