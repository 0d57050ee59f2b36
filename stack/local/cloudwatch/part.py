"""``CloudWatchPart``: evaluates every stored alarm as CloudWatch does, on the scaled period.

moto stores metric data and alarms and never evaluates them. This part reads both through the
control plane's ``MetricStore`` service, and:

- evaluates each metric alarm at the end of each of its periods (the alarm's Period, scaled by the
  environment's time scale, aligned on the epoch), and as soon as it is created or updated
  (evaluation.py: statistics, M of N, TreatMissingData);
- evaluates each composite alarm's AlarmRule over the other alarms' states after every round;
- changes an alarm's state with its StateReason and StateReasonData through ``set_state``, which
  writes the StateUpdate history item, then runs the new state's actions: an SNS topic gets
  CloudWatch's notification through the local endpoint's Publish; any other action is recorded as
  failed (the local stack runs SNS actions only).

A data point is evaluated at most one scaled period plus ``GRACE_S`` (and a tick) after it was stored.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from stack.local import alarmrule
from stack.local import metricstats as statistics
from stack.local.cloudwatch import actions
from stack.local.cloudwatch.evaluation import AlarmSpec, evaluate
from stack.local.cloudwatch.series import Series
from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.services import MetricStore

TICK_S = 0.05  # how often the evaluator looks for due alarms and new samples (wall seconds)
GRACE_S = 0.5  # a period is evaluated this long after it ends, so samples sent (batched) just after its end are in
HORIZON_MIN_S = 120.0  # samples are kept at least this long (wall seconds)
PRUNE_EVERY_S = 1.0  # old samples are dropped this often, not on every tick
_WAKE_ON = frozenset({"PutMetricAlarm", "PutCompositeAlarm", "SetAlarmState", "DeleteAlarms", "PutMetricData"})


class CloudWatchPart:
    name: ClassVar[str] = "cloudwatch"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = (MetricStore,)

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.log = logging.getLogger("gameday.cloudwatch")
        self._store: MetricStore | None = None
        self._context: PartContext | None = None
        self._scale: Callable[[float], float] = lambda s: s
        self._series = Series(HORIZON_MIN_S)
        self._cursors: dict[str, int] = {}
        self._due: dict[tuple[str, str], float] = {}  # (Region, alarm) -> when to evaluate next (epoch s)
        self._configs: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._problems: dict[tuple[str, str], str] = {}
        self._evaluations = 0
        self._changes = 0
        self._pruned_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: one thread, no files, no processes."""
        return []

    def start(self, context: PartContext) -> None:
        self._context = context
        self._store = context.require(MetricStore)
        self.log = context.log
        self._scale = context.timescale.to_wall
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cloudwatch-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        if change.request.service == "cloudwatch" and change.request.operation in _WAKE_ON:
            if change.request.operation != "PutMetricData":
                for name in [change.request.params.get("AlarmName"), *(change.request.params.get("AlarmNames") or ())]:
                    self._due.pop((change.request.region, str(name)), None)  # evaluate it at once
            self._wake.set()

    def health(self) -> Health:
        return Health.of(f"alarm {name} in {region}: {problem}" for (region, name), problem in sorted(self._problems.items()))

    def status(self) -> Mapping[str, Any]:
        return {"alarms": len(self._configs), "evaluations": self._evaluations, "state_changes": self._changes,
                "samples_held": self._series.count()}

    # --- the loop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(self.clock())
            except Exception:  # noqa: BLE001 - one bad round must not end evaluation for good
                self.log.exception("alarm evaluation failed")
            self._wake.wait(TICK_S)
            self._wake.clear()

    def tick(self, now_s: float) -> None:
        """One round: read new samples, evaluate the metric alarms that are due, then the composites."""
        store = self._require_store()
        for region in store.regions():
            samples, self._cursors[region] = store.samples_after(region, self._cursors.get(region, 0))
            self._series.add(samples)
            alarms = store.alarms(region)
            names = {str(a["AlarmName"]) for a in alarms}
            for key in [k for k in self._configs if k[0] == region and k[1] not in names]:
                self._configs.pop(key, None)
                self._due.pop(key, None)
                self._problems.pop(key, None)
            for alarm in alarms:
                key = (region, str(alarm["AlarmName"]))
                if self._configs.get(key) != _config(alarm):
                    self._due.pop(key, None)  # created or updated: evaluate now
                self._configs[key] = _config(alarm)
                if "AlarmRule" not in alarm and now_s >= self._due.get(key, 0.0):
                    self._evaluate_metric(region, alarm, now_s)
            self._evaluate_composites(region, store)
        horizon = max([HORIZON_MIN_S] + [self._scale(float(c.get("Period") or 60)) * (int(c.get("EvaluationPeriods") or 1) + 3)
                                         for c in self._configs.values() if "AlarmRule" not in c])
        self._series.horizon_s = horizon
        if now_s - self._pruned_at >= PRUNE_EVERY_S:
            self._series.prune(now_s)
            self._pruned_at = now_s

    def _evaluate_metric(self, region: str, alarm: Mapping[str, Any], now_s: float) -> None:
        key = (region, str(alarm["AlarmName"]))
        spec = AlarmSpec.of(alarm)
        period_wall = self._scale(spec.period_s)
        self._due[key] = (math.floor(now_s / period_wall) + 1) * period_wall + GRACE_S
        if alarm.get("Metrics"):
            self._problems[key] = "metric math alarms are stored but not evaluated by the local stack"
            return
        if not statistics.supported(spec.statistic):
            self._problems[key] = f"the statistic {spec.statistic} is not evaluated by the local stack (percentiles pNN are)"
            return
        try:
            outcome = evaluate(spec, self._series.datapoints(region, spec, period_wall, now_s), now_s)
        except ValueError as error:
            self._problems[key] = str(error)
            return
        self._problems.pop(key, None)
        self._evaluations += 1
        if outcome.state is not None:
            self._change(region, alarm, outcome.state, outcome.reason, outcome.reason_data)

    def _evaluate_composites(self, region: str, store: MetricStore) -> None:
        # A composite may read another composite: repeat until nothing changes (bounded by their number).
        for _ in range(1 + sum(1 for k, c in self._configs.items() if k[0] == region and "AlarmRule" in c)):
            changed = False
            alarms = store.alarms(region)
            states = {str(a["AlarmName"]): str(a["StateValue"]) for a in alarms}
            for alarm in alarms:
                if "AlarmRule" not in alarm:
                    continue
                key = (region, str(alarm["AlarmName"]))
                try:
                    rule = alarmrule.parse(str(alarm["AlarmRule"]))
                except alarmrule.RuleError as error:
                    self._problems[key] = str(error)
                    continue
                state = "ALARM" if rule.evaluate(states.get) else "OK"
                if state != alarm["StateValue"]:
                    changed |= self._change(region, alarm, state, *_composite_reason(rule, alarms, state))
            if not changed:
                return

    def _change(self, region: str, alarm: Mapping[str, Any], state: str, reason: str, reason_data: str) -> bool:
        store = self._require_store()
        old = str(alarm["StateValue"])
        if not store.set_state(region, str(alarm["AlarmName"]), state, reason, reason_data):
            return False
        self._changes += 1
        self.log.info("alarm %s in %s: %s -> %s: %s", alarm["AlarmName"], region, old, state, reason)
        for arn in actions.actions_for(alarm, state):
            self._run_action(region, alarm, arn, old, state, reason)
        return True

    def _run_action(self, region: str, alarm: Mapping[str, Any], arn: str, old: str, state: str, reason: str) -> None:
        store = self._require_store()
        topic_region = actions.topic_region(arn)
        name = str(alarm["AlarmName"])
        if topic_region is None or self._context is None:
            store.record_action(region, name, f"Failed to execute action {arn}. Received error: the local stack runs "
                                              f"SNS actions only", {"actionState": "Failed", "notificationResource": arn})
            return
        subject, body = actions.message(alarm, region, old, state, reason, self._context.environment.account_id)
        try:
            published = self._context.client("sns", topic_region).publish(TopicArn=arn, Subject=subject, Message=body)
        except Exception as error:  # noqa: BLE001 - a failed action is history, as on AWS
            store.record_action(region, name, f"Failed to execute action {arn}. Received error: {error}",
                                {"actionState": "Failed", "notificationResource": arn, "error": str(error)})
            return
        store.record_action(region, name, f"Successfully executed action {arn}",
                            {"actionState": "Succeeded", "notificationResource": arn,
                             "publishedMessage": {"messageId": published.get("MessageId")}})

    def _require_store(self) -> MetricStore:
        if self._store is None:
            raise RuntimeError("the cloudwatch part is not started")
        return self._store


def _config(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """An alarm's configuration, without its state: what, when it changes, calls for a new evaluation."""
    return {k: v for k, v in alarm.items() if k not in ("StateValue", "StateReason", "StateUpdatedTimestamp")}


def _composite_reason(rule: alarmrule.Rule, alarms: list[Mapping[str, Any]], state: str) -> tuple[str, str]:
    """CloudWatch's reason for a composite alarm's change: the alarms its rule reads, with their states."""
    read = [a for a in alarms if str(a["AlarmName"]) in rule.alarms()]
    triggering = [{"arn": a.get("AlarmArn"), "state": {"value": a["StateValue"],
                                                       "timestamp": str(a.get("StateUpdatedTimestamp"))}} for a in read]
    summary = ", ".join(f"{a.get('AlarmArn')} is {a['StateValue']}" for a in read) or "the rule reads no alarm"
    verb = "holds" if state == "ALARM" else "does not hold"
    return f"The rule {verb}: {summary}", json.dumps({"triggeringAlarms": triggering})
