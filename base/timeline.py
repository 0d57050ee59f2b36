"""The evidence timeline: timestamped events of one experiment, on one monotonic and one wall clock.

Faults, probes and verdicts append events; reports turn them into charts, Allure steps and the
evidence pack. Events are immutable and their times come from ``base.clock``.
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from base import clock
from base.milestone import Milestone
from base.timescale import TimeScale


@dataclass(frozen=True)
class Event:
    kind: str  # "api_call", "fault_injected", "fault_rolled_back", "sample", "state", "verdict", "note"
    name: str
    at: clock.Instant
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "wall_time": self.at.wall_time,
                "monotonic_s": self.at.monotonic_s, "details": self.details}


class Timeline:
    """Thread-safe: background samplers append while the experiment runs."""

    def __init__(self, name: str, scale: TimeScale = TimeScale.REAL) -> None:
        self.name = name
        self.scale = scale  # the stack's, so readers can show AWS-equivalent times
        self.started = clock.now()
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def record(self, kind: str, name: str, occurred_at: clock.Instant | None = None, **details: Any) -> Event:
        """Append an event that happened now, or at ``occurred_at`` when it began earlier (a fault's injection)."""
        if "milestone" in details:  # a closed set: a misspelt name would silently be no milestone at all
            details["milestone"] = Milestone.parse(details["milestone"], f"timeline event {name!r}").value
        event = Event(kind, name, clock.now() if occurred_at is None else occurred_at, details)
        with self._lock:
            self._events.append(event)
        return event

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._events))

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def of_kind(self, kind: str) -> list[Event]:
        return [event for event in self if event.kind == kind]

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "time_scale": self.scale.factor,
                           "started": asdict(self.started), "events": [e.to_dict() for e in self]}, indent=2)
