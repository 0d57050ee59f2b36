"""RDS faults. A failover or a promotion cannot be undone; their rollback waits for a stable state."""
from __future__ import annotations

from typing import Any

from faults.base import ClientFactory, Fault
from gameday.journal import Entry, Journal
from gameday.timeline import Timeline


class RebootWithFailover(Fault):
    """RebootDBInstance with ForceFailover: the standby becomes the primary in the other AZ."""

    name = "rds.reboot_with_failover"
    wait_delay_s, wait_attempts = 1.0, 600

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, db_instance_identifier: str,
                 timeline: Timeline | None = None, wait_delay_s: float = 1.0, wait_attempts: int = 600) -> None:
        super().__init__(clients, journal, timeline)
        self.region, self.identifier = region, db_instance_identifier
        self.wait_delay_s, self.wait_attempts = wait_delay_s, wait_attempts

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "db_instance_identifier": self.identifier}

    def targets(self) -> list[str]:
        return [self.identifier]

    def inject(self, entry: Entry) -> None:
        rds = self.clients("rds", self.region)
        before = rds.describe_db_instances(DBInstanceIdentifier=self.identifier)["DBInstances"][0]
        self.journal.progress(entry, availability_zone_before=before.get("AvailabilityZone"))
        rds.reboot_db_instance(DBInstanceIdentifier=self.identifier, ForceFailover=True)

    def rollback(self, state: dict[str, Any]) -> None:
        # Nothing to undo (AWS has no "un-failover"); leave the instance available for what follows.
        self.clients("rds", state["region"]).get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=state["db_instance_identifier"],
            WaiterConfig={"Delay": self.wait_delay_s, "MaxAttempts": self.wait_attempts})


class PromoteReplica(Fault):
    """PromoteReadReplica: the Region-DR runbook step. One-way: the replica stays a standalone writer."""

    name = "rds.promote_replica"
    wait_delay_s, wait_attempts = 1.0, 600

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, db_instance_identifier: str,
                 timeline: Timeline | None = None, wait_delay_s: float = 1.0, wait_attempts: int = 600) -> None:
        super().__init__(clients, journal, timeline)
        self.region, self.identifier = region, db_instance_identifier
        self.wait_delay_s, self.wait_attempts = wait_delay_s, wait_attempts

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "db_instance_identifier": self.identifier}

    def targets(self) -> list[str]:
        return [self.identifier]

    def inject(self, entry: Entry) -> None:
        rds = self.clients("rds", self.region)
        before = rds.describe_db_instances(DBInstanceIdentifier=self.identifier)["DBInstances"][0]
        self.journal.progress(entry, source=before.get("ReadReplicaSourceDBInstanceIdentifier"))
        rds.promote_read_replica(DBInstanceIdentifier=self.identifier)

    def rollback(self, state: dict[str, Any]) -> None:
        self.clients("rds", state["region"]).get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=state["db_instance_identifier"],
            WaiterConfig={"Delay": self.wait_delay_s, "MaxAttempts": self.wait_attempts})
