"""Stop conditions: CloudWatch alarms that stop a game day.

They are read before each fault (an alarm in ALARM refuses it) and watched while a fault is active by a
background ``Watcher`` at a stated interval. Only the ALARM state stops a run, as in AWS FIS;
OK and INSUFFICIENT_DATA do not. An alarm named in the environment that does not exist refuses the
fault: a safety net that is not there must not pass silently. A watcher that cannot read the alarms
``max_failures`` times in a row stops the run too, because it can no longer see what it guards.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from base.clients import ClientFactory
from environments.model import StopCondition
from base.errors import GamedayError

FIRING = "ALARM"
BLIND = "UNREADABLE"  # the state reported when the alarms could not be read


class StopConditionMissing(GamedayError):
    """A stop-condition alarm named in the environment does not exist."""


class Aborted(GamedayError):
    """The run was aborted by a stop condition; every active fault was rolled back."""

    def __init__(self, alarm: "AlarmState", detail: str = "") -> None:
        self.alarm = alarm
        super().__init__(f"run aborted: stop-condition alarm {alarm.name} ({alarm.region}) is in {alarm.state}: "
                         f"{alarm.reason or 'no reason given'}" + (f"; {detail}" if detail else ""))


@dataclass(frozen=True)
class AlarmState:
    name: str
    region: str
    state: str  # OK, ALARM, INSUFFICIENT_DATA, or UNREADABLE (the watcher lost sight of the alarms)
    reason: str  # CloudWatch's StateReason
    arn: str = ""
    updated_at: datetime | None = None

    @property
    def firing(self) -> bool:
        return self.state in (FIRING, BLIND)


def read(clients: ClientFactory, conditions: Iterable[StopCondition]) -> list[AlarmState]:
    """The current state of every stop-condition alarm. Raises StopConditionMissing, botocore errors."""
    by_region: dict[str, list[str]] = defaultdict(list)
    for condition in conditions:
        by_region[condition.region].append(condition.alarm_name)
    states: list[AlarmState] = []
    for region, names in by_region.items():
        found: dict[str, dict[str, Any]] = {}
        pages = clients("cloudwatch", region).get_paginator("describe_alarms").paginate(
            AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        for page in pages:
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                found[alarm["AlarmName"]] = alarm
        for name in names:
            alarm = found.get(name)
            if alarm is None:
                raise StopConditionMissing(f"stop condition: no CloudWatch alarm named {name!r} in {region}; create it, "
                                           f"or remove it from the environment's stop_conditions")
            states.append(AlarmState(name, region, alarm["StateValue"], alarm.get("StateReason", ""),
                                     alarm.get("AlarmArn", ""), alarm.get("StateUpdatedTimestamp")))
    return states


class Watcher:
    """Reads the alarms every ``interval_s`` in a daemon thread and calls ``on_alarm`` once when one fires."""

    def __init__(self, read_alarms: Callable[[], list[AlarmState]], interval_s: float,
                 on_alarm: Callable[[AlarmState], None], max_failures: int = 3, name: str = "stop-conditions") -> None:
        if interval_s <= 0:
            raise ValueError(f"stop-condition interval_s must be > 0, got {interval_s}")
        self.read_alarms, self.interval_s, self.on_alarm, self.max_failures = read_alarms, interval_s, on_alarm, max_failures
        self.checks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watcher-{name}", daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                states = self.read_alarms()
                failures = 0
            except Exception as error:  # throttling, network: tolerated a few times, then the run stops
                failures += 1
                if failures >= self.max_failures:
                    self.on_alarm(AlarmState("(stop conditions)", "-", BLIND,
                                             f"could not read the alarms {failures} times in a row: {error}"))
                    return
                states = []
            self.checks += 1
            firing = [state for state in states if state.firing]
            if firing:
                self.on_alarm(firing[0])
                return
            self._stop.wait(self.interval_s)

    def stop(self, timeout_s: float = 900) -> None:
        """Stop watching; waits for an ``on_alarm`` in progress (a rollback) to finish."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
