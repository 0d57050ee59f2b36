"""One evaluation of a metric alarm, as CloudWatch documents it (pure: no clock, no store).

The alarm looks at its *evaluation range*: the most recent complete periods, a few more than
``EvaluationPeriods`` (N). Each period's datapoint is the statistic over the samples in it, or
missing. ``DatapointsToAlarm`` (M, default N) of the datapoints must breach for ALARM.

``TreatMissingData``:
- ``breaching`` / ``notBreaching``: a missing datapoint among the last N periods counts as breaching
  / not breaching; the state is ALARM when M of them breach, OK otherwise.
- ``missing`` (the default) / ``ignore``: the most recent N datapoints that exist in the evaluation
  range are evaluated. When none exists, ``missing`` goes to INSUFFICIENT_DATA and ``ignore`` keeps
  the state. With fewer than M breaching, the alarm still goes to ALARM when the oldest breaching
  datapoint of the last N periods is at least M periods old and every newer one breaches or is
  missing (AWS's "avoiding premature transitions" rule). When a datapoint does not breach, it is OK;
  when every existing datapoint breaches but too few exist to decide, the state is kept.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

EXTRA_PERIODS = 2  # the evaluation range: N + 2 periods (AWS's own example: 5 periods for 3 of 3)
_WORDS = {
    "GreaterThanThreshold": "greater than", "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to",
}


@dataclass(frozen=True)
class AlarmSpec:
    """What evaluating a metric alarm needs, read from its stored MetricAlarm shape."""

    name: str
    namespace: str
    metric_name: str
    dimensions: frozenset[tuple[str, str]]
    statistic: str  # "Average" ... or "p95"
    unit: str | None
    period_s: int  # AWS seconds
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str

    @classmethod
    def of(cls, alarm: Mapping[str, Any]) -> "AlarmSpec":
        n = int(alarm.get("EvaluationPeriods") or 1)
        return cls(
            name=str(alarm["AlarmName"]), namespace=str(alarm.get("Namespace")), metric_name=str(alarm.get("MetricName")),
            dimensions=frozenset((str(d["Name"]), str(d["Value"])) for d in alarm.get("Dimensions") or ()),
            statistic=str(alarm.get("ExtendedStatistic") or alarm.get("Statistic")), unit=alarm.get("Unit"),
            period_s=int(alarm.get("Period") or 60), evaluation_periods=n,
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or n),
            threshold=float(alarm.get("Threshold") or 0.0), comparison=str(alarm.get("ComparisonOperator")),
            treat_missing=str(alarm.get("TreatMissingData") or "missing"))

    @property
    def range_periods(self) -> int:
        return self.evaluation_periods + EXTRA_PERIODS


@dataclass(frozen=True)
class Datapoint:
    start_s: float  # the period's start, epoch seconds (wall clock)
    value: float | None  # None: missing
    sample_count: float = 0.0


@dataclass(frozen=True)
class Outcome:
    state: str | None  # None: keep the current state
    reason: str
    reason_data: str


def breaches(spec: AlarmSpec, value: float) -> bool:
    """Whether ``value`` is on the alarming side of the threshold. Raises ValueError for an operator of anomaly detection."""
    if spec.comparison == "GreaterThanThreshold":
        return value > spec.threshold
    if spec.comparison == "GreaterThanOrEqualToThreshold":
        return value >= spec.threshold
    if spec.comparison == "LessThanThreshold":
        return value < spec.threshold
    if spec.comparison == "LessThanOrEqualToThreshold":
        return value <= spec.threshold
    raise ValueError(f"ComparisonOperator {spec.comparison} needs an anomaly detection band, which the local stack "
                     f"does not evaluate")


def evaluate(spec: AlarmSpec, points: Sequence[Datapoint], query_s: float) -> Outcome:
    """The state ``points`` (the evaluation range, oldest first) call for, with AWS's reason and reason data."""
    n, m = spec.evaluation_periods, spec.datapoints_to_alarm
    recent = list(points[-n:])
    if spec.treat_missing in ("breaching", "notBreaching"):
        substitute = spec.treat_missing == "breaching"
        flags = [breaches(spec, p.value) if p.value is not None else substitute for p in recent]
        evaluated = [p for p in recent]
        alarm = sum(flags) >= m
        return _outcome(spec, "ALARM" if alarm else "OK", evaluated, sum(flags), points, query_s)
    present = [p for p in points if p.value is not None]
    if not present:
        if spec.treat_missing == "ignore":
            return Outcome(None, "", "")
        return Outcome("INSUFFICIENT_DATA", f"Insufficient Data: {len(points)} datapoints were unknown.",
                       _reason_data(spec, [], points, query_s))
    evaluated = present[-n:]
    breaching = sum(1 for p in evaluated if p.value is not None and breaches(spec, p.value))
    if breaching >= m:
        return _outcome(spec, "ALARM", evaluated, breaching, points, query_s)
    if _premature_alarm(spec, recent):  # the reason then names the last N periods, missing ones included
        shown = sum(1 for p in recent if p.value is not None and breaches(spec, p.value))
        return _outcome(spec, "ALARM", recent, shown, points, query_s)
    if breaching < len(evaluated):
        return _outcome(spec, "OK", evaluated, breaching, points, query_s)
    return Outcome(None, "", "")  # only breaching datapoints, too few yet: the next ones decide


def _premature_alarm(spec: AlarmSpec, recent: Sequence[Datapoint]) -> bool:
    """AWS's rule for intermittent data: the oldest breaching datapoint is >= M periods old, and nothing newer is OK."""
    for age, point in enumerate(reversed(recent), start=1):  # age 1: the newest period
        if point.value is not None and not breaches(spec, point.value):
            return False
        if point.value is not None and age >= spec.datapoints_to_alarm:
            older = recent[: len(recent) - age]
            if all(p.value is None or breaches(spec, p.value) for p in older):
                return True
    return False


def _stamp(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _outcome(spec: AlarmSpec, state: str, evaluated: Sequence[Datapoint], breaching: int,
             points: Sequence[Datapoint], query_s: float) -> Outcome:
    shown = ", ".join(f"{p.value} ({_stamp(p.start_s)})" if p.value is not None else f"missing ({_stamp(p.start_s)})"
                      for p in reversed(evaluated))
    words = _WORDS.get(spec.comparison, spec.comparison)
    count = len(evaluated)
    if state == "ALARM":
        reason = (f"Threshold Crossed: {breaching} out of the last {count} datapoints [{shown}] "
                  f"{'was' if breaching == 1 else 'were'} {words} the threshold ({spec.threshold}) "
                  f"(minimum {spec.datapoints_to_alarm} datapoint{'s' if spec.datapoints_to_alarm > 1 else ''} "
                  f"for OK -> ALARM transition).")
    else:
        reason = (f"Threshold Crossed: {count - breaching} out of the last {count} datapoints [{shown}] "
                  f"{'was' if count - breaching == 1 else 'were'} not {words} the threshold ({spec.threshold}) "
                  f"(minimum 1 datapoint for ALARM -> OK transition).")
    return Outcome(state, reason, _reason_data(spec, evaluated, points, query_s))


def _reason_data(spec: AlarmSpec, evaluated: Sequence[Datapoint], points: Sequence[Datapoint], query_s: float) -> str:
    statistic_key = "statistic" if percentile_free(spec.statistic) else "extendedStatistic"
    data: dict[str, Any] = {
        "version": "1.0", "queryDate": _iso(query_s), "startDate": _iso(points[0].start_s) if points else _iso(query_s),
        statistic_key: spec.statistic, "unit": spec.unit, "period": spec.period_s,
        "recentDatapoints": [p.value for p in evaluated if p.value is not None], "threshold": spec.threshold,
        "evaluatedDatapoints": [{"timestamp": _iso(p.start_s), "sampleCount": p.sample_count, "value": p.value}
                                if p.value is not None else {"timestamp": _iso(p.start_s)} for p in reversed(evaluated)],
    }
    return json.dumps({k: v for k, v in data.items() if v is not None})


def percentile_free(statistic: str) -> bool:
    return statistic in ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
