"""CloudWatch: the rules AWS enforces and moto does not, the alarm history, and composite alarms.

moto stores metric data and alarms. Here the control plane:

- **validates** PutMetricAlarm (Period 10, 20, 30 or a multiple of 60; a Statistic of the five, or a
  percentile ExtendedStatistic, not both; DatapointsToAlarm <= EvaluationPeriods; TreatMissingData),
  PutMetricData (at most 1,000 metrics, 150 values each) and PutCompositeAlarm's AlarmRule, with
  AWS's codes;
- **keeps the state** AWS keeps: a new alarm starts in INSUFFICIENT_DATA, and updating an alarm
  leaves its state unchanged (moto replaces the alarm, state and all);
- **writes the history** (DescribeAlarmHistory, which moto lacks): ConfigurationUpdate when an
  alarm is created, updated or deleted, StateUpdate on every state change (the evaluator's, through
  ``MetricStore.set_state``, or a user's SetAlarmState), Action for each action run;
- **answers** PutCompositeAlarm (stored as a moto alarm with its rule), DescribeAlarmHistory,
  GetMetricStatistics (exact dimensions, percentiles) and PutMetricData (stored as metricdata.py
  says: Values/Counts as one datum, old data rolled up as AWS ages it).

The ``Ledger`` is also the ``MetricStore`` service the cloudwatch part evaluates alarms through.
"""
from __future__ import annotations

import copy
import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum
from moto.core.exceptions import ServiceException

from base.timescale import TimeScale
from stack.local import alarmrule, metricstats
from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.controlplane.metricdata import Distribution, Retention, moto_time
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import MetricSample

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
MAX_METRICS_PER_PUT = 1000  # PutMetricData: MetricData (with EntityMetricData) holds at most 1,000 metrics
MAX_VALUES_PER_METRIC = 150  # PutMetricData: a Values array holds at most 150 unique values
HISTORY_LIMIT = 10_000  # items kept per Region (AWS keeps 30 days)
PUT_WINDOW_S = 5.0  # a put whose after-hook never ran (moto refused it) stops hiding its alarm after this
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")
# The other extended statistics AWS accepts (trimmed mean, winsorized mean...): valid, not evaluated here.
_OTHER_EXTENDED = re.compile(r"^(t[mcs]|wm)\d{1,2}(\.\d+)?$|^IQM$|^(PR|TC|TM|TS|WM)\(.*\)$")
JSON_10 = {"Content-Type": "application/x-amz-json-1.0"}


def _validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _epoch(value: Any) -> float:
    """moto's timestamps (datetime, naive meaning UTC) or the wire's (epoch number, ISO text) as epoch seconds."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class HistoryItem:
    alarm: str
    alarm_type: str  # MetricAlarm | CompositeAlarm
    timestamp: datetime
    item_type: str  # ConfigurationUpdate | StateUpdate | Action
    summary: str
    data: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"AlarmName": self.alarm, "AlarmType": self.alarm_type, "Timestamp": self.timestamp.timestamp(),
                "HistoryItemType": self.item_type, "HistorySummary": self.summary,
                "HistoryData": json.dumps(self.data)}


# --- validation (before moto stores anything)

def put_metric_alarm(request: ApiRequest, plane: Any) -> None:
    params = request.params
    if params.get("Metrics"):
        return  # metric math: Period and statistics are per metric there (stored, not evaluated here)
    statistic, extended = params.get("Statistic"), params.get("ExtendedStatistic")
    if statistic is not None and extended is not None:
        raise AwsError("InvalidParameterCombination", "Exactly one element of the Statistic and ExtendedStatistic "
                                                      "parameters must be specified, got both")
    if statistic is None and extended is None:
        raise AwsError("MissingParameter", "Exactly one element of the Statistic and ExtendedStatistic parameters "
                                           "must be specified, got neither")
    if statistic is not None and statistic not in STATISTICS:
        raise _validation(f"1 validation error detected: Value '{statistic}' at 'statistic' failed to satisfy "
                          f"constraint: Member must satisfy enum value set: [{', '.join(STATISTICS)}]")
    if extended is not None and not (_PERCENTILE.match(str(extended)) or _OTHER_EXTENDED.match(str(extended))):
        raise _invalid(f"The value {extended} for parameter ExtendedStatistic is not supported; use a percentile "
                       f"such as p95 or p99.9 (or tm90, wm90, IQM, PR(n:m), TM(a%:b%)...)")
    period = params.get("Period")
    if period is None:
        raise AwsError("MissingParameter", "Period is required for an alarm on a metric (it is per metric only "
                                           "in a metric math alarm's Metrics)")
    period = int(period)
    if period not in (10, 20, 30) and period % 60 != 0:
        raise _validation(f"Period must be 10, 20, 30 or a multiple of 60, got {period}")
    evaluation = int(params.get("EvaluationPeriods", 0))
    datapoints = params.get("DatapointsToAlarm")
    if datapoints is not None and int(datapoints) > evaluation:
        raise _validation(f"DatapointsToAlarm must be less than or equal to EvaluationPeriods "
                          f"(got DatapointsToAlarm {datapoints}, EvaluationPeriods {evaluation})")
    limit_s = 86_400 if period < 3600 else 604_800
    if period * evaluation > limit_s:
        raise _validation(f"The evaluation period (Period x EvaluationPeriods = {period * evaluation} s) must not "
                          f"exceed {limit_s} s for a Period {'under' if period < 3600 else 'of'} one hour"
                          f"{'' if period < 3600 else ' or more'}")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in TREAT_MISSING:
        raise _validation(f"Option {treat} is not supported. Supported options for parameter TreatMissingData "
                          f"are {', '.join(TREAT_MISSING)}.")
    ledger(plane).before_put(request)


def put_metric_data(request: ApiRequest, plane: Any) -> None:
    data = request.params.get("MetricData") or []
    entities = sum(len(e.get("MetricData") or ()) for e in request.params.get("EntityMetricData") or ())
    if len(data) + entities > MAX_METRICS_PER_PUT:
        raise _invalid(f"The collection MetricData must not have a size greater than {MAX_METRICS_PER_PUT} "
                       f"(got {len(data) + entities}); split the data into several PutMetricData calls")
    for index, datum in enumerate(data, start=1):
        values = datum.get("Values") or []
        if len(values) > MAX_VALUES_PER_METRIC:
            raise _invalid(f"The collection MetricData.member.{index}.Values must not have a size greater than "
                           f"{MAX_VALUES_PER_METRIC} (got {len(values)})")
        for value in [datum.get("Value", 0.0), *values]:
            if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
                raise _invalid(f"The value {value} for parameter MetricData.member.{index}.Value is invalid; "
                               f"NaN and infinities are not accepted")


def store_metric_data(request: ApiRequest, plane: Any) -> ApiResponse:
    """PutMetricData (after ``put_metric_data``'s checks): the members stored in their order, a member with Values
    as one ``Distribution``, then the Region's data aged (metricdata.Retention). moto's own checks run on every
    member before any is kept."""
    book = ledger(plane)
    backend = backends.cloudwatch(request.region)
    # Interned: every datum of a metric then shares its namespace, name and unit (a request's JSON gives each
    # datum its own copies, three strings kept for as long as the datum).
    namespace = sys.intern(str(request.params.get("Namespace")))
    # Timestamps as moto's own parser gives them (the wire's are epoch numbers or ISO text).
    data = [{**member, "Timestamp": moto_time(_epoch(member["Timestamp"]))} if member.get("Timestamp") is not None else member
            for member in request.params.get("MetricData") or ()]
    try:
        for index, member in enumerate(data, start=1):
            backend._validate_parameters_put_metric_data(member, index)
    except ServiceException as error:  # moto's refusal, as AWS's code and message
        raise AwsError(str(error.code), str(getattr(error, "message", error))) from None
    stored = [_datum(namespace, member, book.retention.dimensions) for member in data]
    with book.retention.lock:
        backend.metric_data.extend(datum for datum in stored if datum is not None)
        book.retention.roll_up(request.region, backend, book.clock().timestamp())
    return ApiResponse(200, b"{}", JSON_10)


def _datum(namespace: str, member: Mapping[str, Any], dimensions: Callable[[Any], list[Any]]) -> Any:
    """One MetricData member as stored: as moto would, except Values/Counts (one Distribution, not one datum per
    count) and the dimensions (one shared list per distinct set). None for Values that all occurred no times
    (moto adds nothing for them either)."""
    name, stamp, unit = sys.intern(str(member["MetricName"])), member.get("Timestamp"), member.get("Unit")
    unit = sys.intern(str(unit)) if unit is not None else None
    datum: Any
    if member.get("Values"):
        counts = member.get("Counts") or [1.0] * len(member["Values"])  # as many as the values: moto's check
        counted = [(float(v), float(c)) for v, c in zip(member["Values"], counts, strict=True) if float(c) > 0]
        if not counted:
            return None
        datum = Distribution(namespace, name, [v for v, _ in counted], [c for _, c in counted], [], stamp, unit)
    elif member.get("StatisticValues"):
        stats = member["StatisticValues"]
        datum = MetricAggregatedDatum(namespace, name, min_stat=float(stats["Minimum"]), max_stat=float(stats["Maximum"]),
                                      sample_count=float(stats["SampleCount"]), sum_stat=float(stats["Sum"]),
                                      dimensions=[], timestamp=stamp, unit=unit)
    else:
        datum = MetricDatum(namespace, name, float(member.get("Value", 0)), [], stamp, unit)
    datum.dimensions = dimensions(member.get("Dimensions") or ())
    return datum


def set_alarm_state(request: ApiRequest, plane: Any) -> None:
    ledger(plane).before_put(request)


def delete_alarms(request: ApiRequest, plane: Any) -> None:
    ledger(plane).before_delete(request)


# --- after moto stored the change

def after_put_metric_alarm(request: ApiRequest, plane: Any) -> None:
    ledger(plane).after_put(request, "MetricAlarm")


def after_set_alarm_state(request: ApiRequest, plane: Any) -> None:
    ledger(plane).after_set_state(request)


def after_delete_alarms(request: ApiRequest, plane: Any) -> None:
    ledger(plane).after_delete(request)


# --- answers

def put_composite_alarm(request: ApiRequest, plane: Any) -> ApiResponse:
    params = request.params
    try:
        rule = alarmrule.parse(str(params.get("AlarmRule", "")))
    except alarmrule.RuleError as error:
        raise _invalid(str(error)) from None
    name = str(params.get("AlarmName", ""))
    if name in rule.alarms():
        raise _invalid(f"AlarmRule of {name!r} names the alarm itself; a composite alarm cannot depend on itself")
    book = ledger(plane)
    book.before_put(request)
    backends.cloudwatch(request.region).put_metric_alarm(
        name=name, namespace=None, metric_name=None, comparison_operator=None, evaluation_periods=None,
        period=None, threshold=None, statistic=None, description=params.get("AlarmDescription"), dimensions=[],
        alarm_actions=list(params.get("AlarmActions") or []), ok_actions=list(params.get("OKActions") or []),
        insufficient_data_actions=list(params.get("InsufficientDataActions") or []),
        actions_enabled=params.get("ActionsEnabled", True), rule=str(params["AlarmRule"]), tags=params.get("Tags"))
    book.after_put(request, "CompositeAlarm")
    return ApiResponse(200, b"{}", JSON_10)


def get_metric_statistics(request: ApiRequest, plane: Any) -> ApiResponse:
    """GetMetricStatistics as CloudWatch answers it, which moto does not: the metric is the exact dimension
    set asked for (moto also counts metrics with more dimensions), and ExtendedStatistics (pNN) work.

    Periods start at StartTime and last Period seconds of the wall clock (the timestamps data carry)."""
    params = request.params
    statistics, extended = list(params.get("Statistics") or []), list(params.get("ExtendedStatistics") or [])
    if not statistics and not extended:
        raise AwsError("MissingParameter", "Statistics or ExtendedStatistics must be specified")
    if len(statistics) + len(extended) > 10:
        raise _invalid(f"At most 10 statistics and extended statistics together, got {len(statistics) + len(extended)}")
    for name in statistics:
        if name not in STATISTICS:
            raise _validation(f"1 validation error detected: Value '{name}' at 'statistics' failed to satisfy "
                              f"constraint: Member must satisfy enum value set: [{', '.join(STATISTICS)}]")
    for name in extended:
        if metricstats.percentile_of(str(name)) is None:
            raise _invalid(f"The value {name} for parameter ExtendedStatistics is not supported by the local stack; "
                           f"use percentiles such as p95")
    period = int(params.get("Period") or 60)
    if period < 1:
        raise _invalid(f"The parameter Period must be at least 1, got {period}")
    start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
    if start >= end:
        raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
    wanted = frozenset((str(d["Name"]), str(d["Value"])) for d in params.get("Dimensions") or ())
    unit = params.get("Unit")
    samples = [x for x in list(backends.cloudwatch(request.region).metric_data)  # a copy: a roll-up may replace slices
               if x.namespace == params.get("Namespace") and x.name == params.get("MetricName")
               and (unit is None or x.unit == unit)]
    buckets: dict[int, list[MetricSample]] = {}
    for datum in samples:
        sample = _sample(request.region, datum)
        if sample.dimensions == wanted and start <= sample.timestamp_s < end:
            buckets.setdefault(int((sample.timestamp_s - start) // period), []).append(sample)
    points = []
    for index, bucket in sorted(buckets.items()):
        point: dict[str, Any] = {"Timestamp": start + index * period, "Unit": bucket[0].unit or "None"}
        for name in statistics:
            computed = metricstats.compute(name, bucket)
            if computed is not None:
                point[name] = computed[0]
        values = {name: computed[0] for name in extended if (computed := metricstats.compute(name, bucket)) is not None}
        if values:
            point["ExtendedStatistics"] = values
        points.append(point)
    body = {"Label": params.get("MetricName"), "Datapoints": points}
    return ApiResponse(200, json.dumps(body).encode(), JSON_10)


def describe_alarm_history(request: ApiRequest, plane: Any) -> ApiResponse:
    items = ledger(plane).history(request.region, request.params)
    return ApiResponse(200, json.dumps(items).encode(), JSON_10)


class Ledger:
    """The alarms' history and state changes, over moto's store; the ``MetricStore`` the evaluator uses."""

    def __init__(self, regions: list[str], clock: Callable[[], datetime] = _now, timescale: TimeScale = TimeScale.REAL) -> None:
        self._regions = sorted(regions)
        self.clock = clock
        self.retention = Retention(timescale)
        self._lock = threading.RLock()
        self._history: dict[str, list[HistoryItem]] = {}
        self._before: dict[tuple[str, str], Any] = {}  # (Region, alarm) -> the alarm before a put
        # (Region, alarm) -> when a put began: until its after-hook ran, the evaluator neither sees nor changes it
        # (moto stores a new alarm as OK first; an evaluation then would write an OK -> ... history item).
        self._putting: dict[tuple[str, str], float] = {}

    # MetricStore

    def regions(self) -> list[str]:
        return list(self._regions)

    def samples_after(self, region: str, cursor: int) -> tuple[list[MetricSample], int]:
        # The cursor counts raw data (rolled-up data is older than any alarm reads from the store).
        data, cursor = self.retention.raw_after(region, backends.cloudwatch(region).metric_data, cursor)
        return [_sample(region, datum) for datum in data], cursor

    def alarms(self, region: str) -> list[Mapping[str, Any]]:
        with self._lock:
            return [_alarm_json(alarm) for alarm in list(backends.cloudwatch(region).alarms.values())
                    if not self._being_put(region, alarm.name)]

    def _being_put(self, region: str, name: str) -> bool:
        began = self._putting.get((region, name))
        return began is not None and time.monotonic() - began < PUT_WINDOW_S

    def alarm_state(self, region: str, name: str) -> str | None:
        alarm = backends.cloudwatch(region).alarms.get(name)
        return str(alarm.state_value) if alarm is not None else None

    def set_state(self, region: str, name: str, state: str, reason: str, reason_data: str) -> bool:
        with self._lock:
            alarm = backends.cloudwatch(region).alarms.get(name)
            if alarm is None or alarm.state_value == state or self._being_put(region, name):
                return False
            old = (alarm.state_value, alarm.state_reason)
            alarm.update_state(reason, reason_data, state)
            self._state_update(region, alarm, old)
            return True

    def record_action(self, region: str, name: str, summary: str, data: Mapping[str, Any]) -> None:
        alarm = backends.cloudwatch(region).alarms.get(name)
        kind = "CompositeAlarm" if alarm is not None and alarm.rule is not None else "MetricAlarm"
        self._append(region, HistoryItem(name, kind, self.clock(), "Action", summary, data))

    # hooks

    def before_put(self, request: ApiRequest) -> None:
        name = str(request.params.get("AlarmName", ""))
        with self._lock:
            # A copy: SetAlarmState changes moto's alarm in place.
            self._before[(request.region, name)] = copy.copy(backends.cloudwatch(request.region).alarms.get(name))
            if request.operation != "SetAlarmState":
                self._putting[(request.region, name)] = time.monotonic()

    def after_put(self, request: ApiRequest, kind: str) -> None:
        name = str(request.params.get("AlarmName", ""))
        with self._lock:
            before = self._before.pop((request.region, name), None)
            self._putting.pop((request.region, name), None)
            alarm = backends.cloudwatch(request.region).alarms.get(name)
            if alarm is None:
                return
            if before is None:
                alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation"
                alarm.state_reason_data = "{}"
                summary = f'Alarm "{name}" created'
            else:  # an update leaves the state as it was (PutMetricAlarm's documentation)
                alarm.state_value, alarm.state_reason = before.state_value, before.state_reason
                alarm.state_reason_data, alarm.state_updated_timestamp = before.state_reason_data, before.state_updated_timestamp
                alarm.history = before.history
                summary = f'Alarm "{name}" updated'
            data = {"version": "1.0", "type": "Create" if before is None else "Update",
                    "createdAlarm" if before is None else "updatedAlarm": _json_safe(_alarm_json(alarm))}
            self._append(request.region, HistoryItem(name, kind, self.clock(), "ConfigurationUpdate", summary, data))

    def after_set_state(self, request: ApiRequest) -> None:
        name = str(request.params.get("AlarmName", ""))
        with self._lock:
            before = self._before.pop((request.region, name), None)
            alarm = backends.cloudwatch(request.region).alarms.get(name)
            if alarm is not None and before is not None:
                self._state_update(request.region, alarm, (before.state_value, before.state_reason),
                                   old_value=before.state_value)

    def before_delete(self, request: ApiRequest) -> None:
        with self._lock:
            for name in request.params.get("AlarmNames") or ():
                self._before[(request.region, str(name))] = backends.cloudwatch(request.region).alarms.get(name)

    def after_delete(self, request: ApiRequest) -> None:
        with self._lock:
            for name in request.params.get("AlarmNames") or ():
                before = self._before.pop((request.region, str(name)), None)
                if before is not None:
                    kind = "CompositeAlarm" if before.rule is not None else "MetricAlarm"
                    self._append(request.region, HistoryItem(
                        str(name), kind, self.clock(), "ConfigurationUpdate", f'Alarm "{name}" deleted',
                        {"version": "1.0", "type": "Delete", "deletedAlarm": _json_safe(_alarm_json(before))}))

    # history

    def _state_update(self, region: str, alarm: Any, old: tuple[str, str], old_value: str | None = None) -> None:
        kind = "CompositeAlarm" if alarm.rule is not None else "MetricAlarm"
        try:
            reason_data = json.loads(alarm.state_reason_data or "{}")
        except ValueError:
            reason_data = {}
        data = {"version": "1.0", "oldState": {"stateValue": old[0], "stateReason": old[1]},
                "newState": {"stateValue": alarm.state_value, "stateReason": alarm.state_reason,
                             "stateReasonData": reason_data}}
        summary = f"Alarm updated from {old_value or old[0]} to {alarm.state_value}"
        self._append(region, HistoryItem(alarm.name, kind, self.clock(), "StateUpdate", summary, data))

    def _append(self, region: str, item: HistoryItem) -> None:
        with self._lock:
            items = self._history.setdefault(region, [])
            items.append(item)
            del items[:-HISTORY_LIMIT]

    def history(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """DescribeAlarmHistory's answer: filtered by name, types, item type and dates, newest first by default."""
        with self._lock:
            items = list(self._history.get(region, ()))
        name, kind = params.get("AlarmName"), params.get("HistoryItemType")
        types = params.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
        start = _epoch(params["StartDate"]) if params.get("StartDate") is not None else None
        end = _epoch(params["EndDate"]) if params.get("EndDate") is not None else None
        found = [i for i in items if (name is None or i.alarm == name) and (kind is None or i.item_type == kind)
                 and i.alarm_type in types and (start is None or i.timestamp.timestamp() >= start)
                 and (end is None or i.timestamp.timestamp() <= end)]
        if params.get("ScanBy", "TimestampDescending") == "TimestampDescending":
            found.reverse()
        offset = int(params.get("NextToken") or 0)
        size = int(params.get("MaxRecords") or 100)
        page = found[offset:offset + size]
        answer: dict[str, Any] = {"AlarmHistoryItems": [i.as_json() for i in page]}
        if offset + size < len(found):
            answer["NextToken"] = str(offset + size)
        return answer


def ledger(plane: Any) -> Ledger:
    found: Ledger = plane.cloudwatch
    return found


def _sample(region: str, datum: Any) -> MetricSample:
    dimensions = frozenset((str(d.name), str(d.value)) for d in datum.dimensions)
    stamp = _epoch(datum.timestamp)
    if isinstance(datum, Distribution):
        return MetricSample(region, datum.namespace, datum.name, dimensions, stamp, datum.unit, float(datum.sample_count),
                            float(datum.sum), float(datum.min), float(datum.max), datum.values, datum.counts)
    if hasattr(datum, "value"):
        value = float(datum.value)
        return MetricSample(region, datum.namespace, datum.name, dimensions, stamp, datum.unit, 1.0, value, value,
                            value, (value,))
    return MetricSample(region, datum.namespace, datum.name, dimensions, stamp, datum.unit, float(datum.sample_count),
                        float(datum.sum), float(datum.min), float(datum.max), ())


def _alarm_json(alarm: Any) -> dict[str, Any]:
    """A moto alarm in botocore's MetricAlarm (or CompositeAlarm, with AlarmRule) shape."""
    found: dict[str, Any] = {
        "AlarmName": alarm.name, "AlarmArn": alarm.alarm_arn, "ActionsEnabled": alarm.actions_enabled,
        "AlarmActions": list(alarm.alarm_actions or ()), "OKActions": list(alarm.ok_actions or ()),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or ()),
        "StateValue": alarm.state_value, "StateReason": alarm.state_reason,
        "StateUpdatedTimestamp": alarm.state_updated_timestamp,
    }
    if alarm.rule is not None:
        found["AlarmRule"] = alarm.rule
        return found
    found.update({
        "Namespace": alarm.namespace, "MetricName": alarm.metric_name,
        "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
        "Period": int(alarm.period) if alarm.period is not None else None,
        "EvaluationPeriods": int(alarm.evaluation_periods or 1),
        "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods or 1),
        "Threshold": float(alarm.threshold) if alarm.threshold is not None else None,
        "ComparisonOperator": alarm.comparison_operator, "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic, "Unit": alarm.unit,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile,
        "Metrics": list(alarm.metric_data_queries or ()),
    })
    return found


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in value.items()
            if k not in ("Metrics", "StateUpdatedTimestamp") and v is not None}


VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {
    "PutMetricAlarm": put_metric_alarm, "PutMetricData": put_metric_data,
    "SetAlarmState": set_alarm_state, "DeleteAlarms": delete_alarms,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {
    "PutMetricAlarm": after_put_metric_alarm, "SetAlarmState": after_set_alarm_state, "DeleteAlarms": after_delete_alarms,
}
ANSWER: dict[str, Callable[[ApiRequest, Any], ApiResponse | None]] = {
    "PutCompositeAlarm": put_composite_alarm, "DescribeAlarmHistory": describe_alarm_history,
    "GetMetricStatistics": get_metric_statistics, "PutMetricData": store_metric_data,
}
