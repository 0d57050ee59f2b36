"""RDS events as DescribeEvents returns them: what happened to which instance, and when.

Messages follow AWS's event catalogue (the RDS user guide's event messages). DescribeEvents carries no
event id, so probes recognise an event by its message; the id is kept for `stack status` and logs.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# id -> (message, categories)
CATALOGUE: dict[str, tuple[str, tuple[str, ...]]] = {
    "RDS-EVENT-0003": ("DB instance deleted", ("deletion",)),
    "RDS-EVENT-0004": ("DB instance shutdown", ("availability",)),
    "RDS-EVENT-0005": ("DB instance created", ("creation",)),
    "RDS-EVENT-0006": ("DB instance restarted", ("availability",)),
    "RDS-EVENT-0013": ("Multi-AZ instance failover started", ("failover",)),
    "RDS-EVENT-0015": ("Multi-AZ failover to standby complete – DNS propagation may take a few minutes", ("failover",)),
    "RDS-EVENT-0019": ("Restored from DB instance {source} to {target}", ("restoration",)),
    "RDS-EVENT-0034": ("Abandoning user requested failover since a failover recently occurred", ("failover",)),
    "RDS-EVENT-0049": ("Multi-AZ instance failover completed", ("failover",)),
    "RDS-EVENT-0065": ("The instance has recovered from a partial failover", ("failover",)),
    "RDS-EVENT-0046": ("Read replica has resumed replication", ("read replica",)),
    "RDS-EVENT-0057": ("Replication on the read replica was terminated", ("read replica",)),
    "RDS-EVENT-0001": ("Backing up DB instance", ("backup",)),
    "RDS-EVENT-0002": ("Finished DB instance backup", ("backup",)),
}
SOURCE_TYPE = "db-instance"


@dataclass(frozen=True)
class RdsEvent:
    event_id: str
    source_identifier: str
    source_arn: str
    message: str
    event_categories: tuple[str, ...]
    date: datetime
    region: str
    source_type: str = SOURCE_TYPE


class EventLog:
    """Every event the RDS part emitted, per Region, in time order."""

    def __init__(self) -> None:
        self._events: list[RdsEvent] = []
        self._lock = threading.Lock()

    def emit(self, event_id: str, region: str, source_identifier: str, source_arn: str, **fields: str) -> RdsEvent:
        message, categories = CATALOGUE[event_id]
        event = RdsEvent(event_id, source_identifier, source_arn, message.format(**fields), categories,
                         datetime.now(timezone.utc), region)
        with self._lock:
            self._events.append(event)
        return event

    def all(self) -> list[RdsEvent]:
        with self._lock:
            return list(self._events)

    def query(self, region: str, source_identifier: str | None = None, source_type: str | None = None,
              start: datetime | None = None, end: datetime | None = None, duration_min: int | None = None,
              categories: list[str] | None = None, now: datetime | None = None) -> list[RdsEvent]:
        """DescribeEvents' filters; without a time window the last hour (AWS's default Duration of 60 min)."""
        now = now or datetime.now(timezone.utc)
        if start is None and end is None:
            start = now - timedelta(minutes=duration_min or 60)
        elif start is None and duration_min is not None and end is not None:
            start = end - timedelta(minutes=duration_min)
        elif end is None and duration_min is not None and start is not None:
            end = start + timedelta(minutes=duration_min)
        found = []
        for event in self.all():
            if event.region != region:
                continue
            if source_type is not None and event.source_type != source_type:
                continue
            if source_identifier is not None and event.source_identifier != source_identifier:
                continue
            if start is not None and event.date < start:
                continue
            if end is not None and event.date > end:
                continue
            if categories and not set(categories) & set(event.event_categories):
                continue
            found.append(event)
        return found
