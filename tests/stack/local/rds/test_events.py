"""The RDS event log: AWS's messages, DescribeEvents' filters and its one-hour default window."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from stack.local.rds.events import EventLog


def test_query_filters_like_describe_events() -> None:
    log = EventLog()
    started = log.emit("RDS-EVENT-0013", "us-east-1", "orders", "arn:aws:rds:us-east-1:123456789012:db:orders")
    log.emit("RDS-EVENT-0049", "us-east-1", "orders", "arn:aws:rds:us-east-1:123456789012:db:orders")
    log.emit("RDS-EVENT-0005", "us-east-1", "other", "arn:aws:rds:us-east-1:123456789012:db:other")
    log.emit("RDS-EVENT-0005", "us-west-2", "orders", "arn:aws:rds:us-west-2:123456789012:db:orders")

    assert started.message == "Multi-AZ instance failover started"
    assert [e.event_id for e in log.query("us-east-1", "orders", "db-instance")] == ["RDS-EVENT-0013", "RDS-EVENT-0049"]
    assert [e.source_identifier for e in log.query("us-east-1", categories=["creation"])] == ["other"]
    assert log.query("us-east-1", source_type="db-snapshot") == []
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert log.query("us-east-1", now=later) == []  # older than the default 60 minutes
    assert len(log.query("us-east-1", now=later, duration_min=180)) == 3


def test_restoration_message_names_both_instances() -> None:
    event = EventLog().emit("RDS-EVENT-0019", "us-east-1", "copy", "arn", source="orders", target="copy")
    assert event.message == "Restored from DB instance orders to copy"
