"""Runbook steps: the DR changes an operator makes during a game day, journaled like faults.

A promotion cannot be undone through the API, so its journal entry records how to restore the
topology instead: the writer it replicated from, its subnet group, class and tags, and where its
master credentials are. Rolling it back (leaving the ``with`` block, or ``gameday recover`` after a
killed run) copies the orders only the promoted copy holds back to the writer, deletes the copy and
builds a new read replica of the writer (stack.topology). The writer-name switch journals the value
it replaced and points it back.

Runbook steps are rolled back after every other journaled fault: a fault (a Region cut off by NACL)
may block the paths the restore needs::

    with contextlib.ExitStack() as runbook:
        with IsolateRegion(...):
            runbook.enter_context(PromoteReplica(..., secret_id=...))
            runbook.enter_context(PointWriter(..., zone_id=..., record_name="orders.db.example.com."))
            ...  # observe the evacuation
        # the Region is back; leaving ExitStack points the name back and rebuilds the replica
"""
from __future__ import annotations

from typing import Any, ClassVar

from faults import resources
from faults.base import ClientFactory, Fault
from faults.rds import _DbFault
from faults.route53 import GLOBAL_REGION
from base.errors import FaultError
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline
from stack import topology

_ARN_DB = ":db:"


def _nameserver(value: Any) -> tuple[str, int] | None:
    return (str(value[0]), int(value[1])) if value else None


class PromoteReplica(_DbFault):
    """PromoteReadReplica, then wait until the promoted instance is available. Rolled back by restoring the
    replica of its former source (orders it alone holds are copied to the source first).

    ``secret_id`` (Secrets Manager, in ``secret_region``, default the source's Region) holds the master
    credentials, used to read the orders through the endpoints; ``nameserver`` (host, port) is the DNS
    server that resolves them (None: the system's, as on AWS)."""

    name = "runbook.promote_replica"
    runbook_step: ClassVar[bool] = True

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, db_instance_identifier: str,
                 secret_id: str, secret_region: str = "", nameserver: tuple[str, int] | None = None,
                 timeline: Timeline | None = None, wait_delay_s: float = 1.0, wait_attempts: int = 600,
                 guard: Guard | None = None) -> None:
        super().__init__(clients, journal, region=region, db_instance_identifier=db_instance_identifier,
                         timeline=timeline, wait_delay_s=wait_delay_s, wait_attempts=wait_attempts, guard=guard)
        self.secret_id, self.secret_region, self.nameserver = secret_id, secret_region, nameserver

    def params(self) -> dict[str, Any]:
        return {**super().params(), "secret_id": self.secret_id, "secret_region": self.secret_region,
                "nameserver": list(self.nameserver) if self.nameserver else None}

    def inject(self, entry: Entry) -> None:
        before = self._before()
        source = before.get("ReadReplicaSourceDBInstanceIdentifier")
        if not source:
            raise FaultError(f"{self.name}: {self.identifier} ({self.region}) is not a read replica; nothing to promote")
        # A cross-Region source is named by ARN (arn:aws:rds:<region>:<account>:db:<id>), a same-Region one by id.
        writer_region = source.split(":")[3] if _ARN_DB in source else self.region
        self.journal.progress(entry, source=source, writer_region=writer_region,
                              writer_identifier=source.split(_ARN_DB)[-1],
                              subnet_group=(before.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
                              tags=[[t["Key"], t["Value"]] for t in before.get("TagList") or []
                                    if not t["Key"].startswith("aws:")])
        self.clients("rds", self.region).promote_read_replica(DBInstanceIdentifier=self.identifier)
        if not self.planning:
            self._settle(self.params())

    @staticmethod
    def spec(state: dict[str, Any]) -> topology.Spec:
        return topology.Spec(stack_name="gameday", writer=topology.Database(state["writer_region"], state["writer_identifier"]),
                             replica=topology.Database(state["region"], state["db_instance_identifier"]), zone="",
                             writer_record="", secret_id=state["secret_id"], secret_region=state.get("secret_region") or "",
                             replica_subnet_group=state.get("subnet_group") or "",
                             replica_tags=tuple((str(k), str(v)) for k, v in state.get("tags") or []))

    def rollback(self, state: dict[str, Any]) -> None:
        if "writer_identifier" not in state:
            return  # journaled before the promotion was asked for: nothing changed
        for line in topology.restore_replica(self.clients, self.spec(state), _nameserver(state.get("nameserver")),
                                             copy_back=True, delay_s=getattr(self, "wait_delay_s", 1.0),
                                             attempts=getattr(self, "wait_attempts", 600)):
            self._record("note", text=line)

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        region, identifier = state["region"], state["db_instance_identifier"]
        return ([Call("rds", region, "DeleteDBInstance", {"DBInstanceIdentifier": identifier, "SkipFinalSnapshot": True}),
                 Call("rds", region, "CreateDBInstanceReadReplica", {
                     "DBInstanceIdentifier": identifier, "SourceDBInstanceIdentifier": state.get("source"),
                     "DBSubnetGroupName": state.get("subnet_group")})],
                "first copies the orders only the promoted copy holds back to the source (refusing, and deleting "
                "nothing, if one cannot be copied); waits until the new replica is available")


class PointWriter(Fault):
    """Point a CNAME (the writer name, e.g. ``orders.db.<zone>``) at a DB instance's endpoint; rolled back by
    pointing it at the value it had (or deleting it, if it had none), unless someone else changed it since."""

    name = "runbook.point_writer"
    runbook_step: ClassVar[bool] = True

    def __init__(self, clients: ClientFactory, journal: Journal, *, zone_id: str, record_name: str, region: str,
                 db_instance_identifier: str, timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.zone_id, self.record_name = zone_id, record_name
        self.region, self.identifier = region, db_instance_identifier

    def params(self) -> dict[str, Any]:
        return {"zone_id": self.zone_id, "record_name": self.record_name, "region": self.region,
                "db_instance_identifier": self.identifier}

    def regions(self) -> list[str]:
        return ["", self.region]

    def discover(self, caller: Caller) -> list[Resource]:
        route53 = self.clients("route53", GLOBAL_REGION)
        tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=self.zone_id)["ResourceTagSet"]
        zone = Resource(f"arn:{caller.partition}:route53:::hostedzone/{self.zone_id}", self.zone_id, "",
                        {t["Key"]: t["Value"] for t in tags.get("Tags") or []})
        database, self.described = resources.db_instance(self.clients("rds", self.region), self.region, self.identifier)
        return [zone, database]

    def inject(self, entry: Entry) -> None:
        before = topology.value(topology.record(self.clients, self.zone_id, self.record_name))
        endpoint = (getattr(self, "described", None) or self.clients("rds", self.region).describe_db_instances(
            DBInstanceIdentifier=self.identifier)["DBInstances"][0]).get("Endpoint", {}).get("Address")
        if not endpoint:
            raise FaultError(f"{self.name}: {self.identifier} ({self.region}) has no endpoint yet; not pointing "
                             f"{self.record_name} at it")
        self.journal.progress(entry, value_before=before, value_after=endpoint)
        topology.point_record(self.clients, self.zone_id, self.record_name, endpoint, before)

    def rollback(self, state: dict[str, Any]) -> None:
        if "value_after" not in state:
            return
        current = topology.value(topology.record(self.clients, state["zone_id"], state["record_name"]))
        if current == (state["value_before"] or None):
            return
        try:
            topology.point_record(self.clients, state["zone_id"], state["record_name"], state["value_before"],
                                  state["value_after"])
        except topology.TopologyError as error:
            raise FaultError(f"{self.name}: {error}") from error

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        return ([Call("route53", GLOBAL_REGION, "ChangeResourceRecordSets", {
            "HostedZoneId": state["zone_id"], "ChangeBatch": {"Changes": [
                {"Action": "UPSERT" if state.get("value_before") else "DELETE", "ResourceRecordSet": {
                    "Name": state["record_name"], "Type": "CNAME",
                    "ResourceRecords": [{"Value": state.get("value_before") or state.get("value_after")}]}}]}})],
                "re-reads the record first and refuses if someone else changed it meanwhile")
