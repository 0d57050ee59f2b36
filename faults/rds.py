"""RDS faults. A failover or a promotion cannot be undone; their rollback waits for a stable state.

With ``injector: fis``, ``reboot_with_failover`` runs as FIS's ``aws:rds:reboot-db-instances`` with
``forceFailover`` (faults.fis).
"""
from __future__ import annotations

from typing import Any

from faults import fis, resources
from faults.base import ClientFactory, Fault
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline

_SETTLE = "waits until the instance is available (DescribeDBInstances)"


class _DbFault(Fault):
    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, db_instance_identifier: str,
                 timeline: Timeline | None = None, wait_delay_s: float = 1.0, wait_attempts: int = 600,
                 guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.identifier = region, db_instance_identifier
        self.wait_delay_s, self.wait_attempts = wait_delay_s, wait_attempts
        self.described: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "db_instance_identifier": self.identifier}

    def discover(self, caller: Caller) -> list[Resource]:
        resource, self.described = resources.db_instance(self.clients("rds", self.region), self.region, self.identifier)
        return [resource]

    def _before(self) -> dict[str, Any]:
        if self.described is None:
            self.described = self.clients("rds", self.region).describe_db_instances(
                DBInstanceIdentifier=self.identifier)["DBInstances"][0]
        return self.described

    def _settle(self, state: dict[str, Any]) -> None:
        self.clients("rds", state["region"]).get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=state["db_instance_identifier"],
            WaiterConfig={"Delay": getattr(self, "wait_delay_s", 1.0), "MaxAttempts": getattr(self, "wait_attempts", 600)})


class RebootWithFailover(_DbFault):
    """RebootDBInstance with ForceFailover: the standby becomes the primary in the other AZ."""

    name = "rds.reboot_with_failover"
    fis_capable = True

    def inject(self, entry: Entry) -> None:
        self.journal.progress(entry, availability_zone_before=self._before().get("AvailabilityZone"))
        if self.injector == "fis":
            fis.inject(self, self.region, fis.reboot_db_instances(self.targets()))
            return
        self.clients("rds", self.region).reboot_db_instance(DBInstanceIdentifier=self.identifier, ForceFailover=True)

    def rollback(self, state: dict[str, Any]) -> None:
        # Nothing to undo (AWS has no "un-failover"); leave the instance available for what follows.
        if state.get("injector") == "fis":
            fis.rollback(self, state, stop=False)
        self._settle(state)

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        if state.get("injector") == "fis":
            calls, note = fis.planned_rollback(state, stop=False)
            return calls, f"{note}; then {_SETTLE}"
        return [], f"nothing to undo (a failover is one-way); {_SETTLE}"


class PromoteReplica(_DbFault):
    """PromoteReadReplica: the Region-DR runbook step. One-way: the replica stays a standalone writer."""

    name = "rds.promote_replica"

    def inject(self, entry: Entry) -> None:
        self.journal.progress(entry, source=self._before().get("ReadReplicaSourceDBInstanceIdentifier"))
        self.clients("rds", self.region).promote_read_replica(DBInstanceIdentifier=self.identifier)

    def rollback(self, state: dict[str, Any]) -> None:
        self._settle(state)

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        return [], f"nothing to undo (a promotion is one-way); {_SETTLE}"
