"""The DR topology of the reference stack: what the spec says, how the account differs, and how to restore it.

The spec: the orders writer (Multi-AZ) in its Region, a read replica of it in the DR Region, and the
writer name ``orders.db.<zone>`` (CNAME) pointing at the writer's endpoint. A Region evacuation breaks
all three on purpose (the replica is promoted, the name repointed); ``drift`` lists what differs,
``orphans`` lists acknowledged orders that only a promoted copy holds (a split brain), and
``restore_replica`` / ``point_writer`` put the topology back. The fault rollbacks, ``gameday recover``,
``gameday scan`` and ``gameday stack build`` all use these, so a restore is the same code everywhere.

Orphaned orders are never dropped silently: restoring copies them back to the writer first (every column,
row for row), and refuses to replace the promoted copy while any of them cannot be copied.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from base.clients import ClientFactory
from environments.model import AwsEnvironment, LocalEnvironment
from base.errors import BuildError
from stack import orders

WRITER_TTL_S = 5  # the same as RDS's own endpoint records
COPY_BACK_PASSES = 5  # writes in flight while the writer name moves back land on the copy: copy until none is new


class TopologyError(BuildError):
    """The DR topology could not be restored."""


@dataclass(frozen=True)
class Database:
    region: str
    identifier: str


@dataclass(frozen=True)
class Spec:
    """The topology the builder creates (stack.builder), in the terms of the API."""

    stack_name: str
    writer: Database
    replica: Database | None
    zone: str
    writer_record: str  # orders.db.<zone>
    secret_id: str  # master credentials of the writer (and so of its replicas), in the writer's Region
    multi_az: bool = True
    secret_region: str = ""  # "" means the writer's Region
    replica_subnet_group: str = ""  # when the replica is gone: "" means the builder's, <stack>-<region>
    replica_tags: tuple[tuple[str, str], ...] = ()  # when the replica is gone: () means the stack tag

    @property
    def tags(self) -> list[dict[str, str]]:
        if self.replica_tags:
            return [{"Key": key, "Value": value} for key, value in self.replica_tags]
        return [{"Key": "gameday:stack", "Value": self.stack_name}]


@dataclass(frozen=True)
class Drift:
    kind: str
    region: str
    resource: str
    detail: str


def spec_of(environment: LocalEnvironment | AwsEnvironment, stack_name: str = "securecart") -> Spec:
    stack = environment.stack
    replica = Database(stack.replica_region, f"{stack.database_identifier}-replica") if stack.replica_region else None
    return Spec(stack_name, Database(stack.database_region, stack.database_identifier), replica, stack.zone,
                f"orders.db.{stack.zone}", f"{stack_name}/{stack.database_identifier}/master")


def describe(clients: ClientFactory, database: Database) -> dict[str, Any] | None:
    try:
        described: dict[str, Any] = clients("rds", database.region).describe_db_instances(
            DBInstanceIdentifier=database.identifier)["DBInstances"][0]
        return described
    except ClientError as error:
        if error.response["Error"]["Code"] in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise


def zone_id(clients: ClientFactory, zone: str) -> str | None:
    for candidate in clients("route53", "us-east-1").list_hosted_zones_by_name(DNSName=zone)["HostedZones"]:
        if candidate["Name"] == zone:
            return str(candidate["Id"]).split("/")[-1]
    return None


def record(clients: ClientFactory, zone: str, name: str) -> dict[str, Any] | None:
    """The CNAME ``name`` as Route 53 holds it, or None."""
    found = clients("route53", "us-east-1").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="CNAME", MaxItems="1")["ResourceRecordSets"]
    if found and found[0]["Name"] == name and found[0]["Type"] == "CNAME":
        return dict(found[0])
    return None


def value(record_set: dict[str, Any] | None) -> str | None:
    return str(record_set["ResourceRecords"][0]["Value"]).rstrip(".") if record_set else None


def _source_of(described: dict[str, Any]) -> str | None:
    return described.get("ReadReplicaSourceDBInstanceIdentifier")


def _is_source(source: str | None, writer: dict[str, Any]) -> bool:
    # A cross-Region replica names its source by ARN, a same-Region one by identifier.
    return source in (writer["DBInstanceArn"], writer["DBInstanceIdentifier"])


def drift(clients: ClientFactory, spec: Spec) -> list[Drift]:
    """Where the account differs from ``spec``: the writer, its Multi-AZ, the replica and its source, the writer name."""
    found: list[Drift] = []
    writer = describe(clients, spec.writer)
    if writer is None:
        return [Drift("writer-missing", spec.writer.region, spec.writer.identifier, "the orders writer does not exist")]
    if _source_of(writer):
        found.append(Drift("writer-is-replica", spec.writer.region, spec.writer.identifier,
                           f"the writer replicates from {_source_of(writer)}"))
    if spec.multi_az and not writer.get("MultiAZ"):
        found.append(Drift("multi-az", spec.writer.region, spec.writer.identifier, "MultiAZ is false; the spec says true"))
    if spec.replica is not None:
        replica = describe(clients, spec.replica)
        if replica is None:
            found.append(Drift("replica-missing", spec.replica.region, spec.replica.identifier,
                               f"no read replica of {spec.writer.identifier}"))
        elif not _is_source(_source_of(replica), writer):
            source = _source_of(replica)
            found.append(Drift("replica-promoted" if not source else "replica-source", spec.replica.region,
                               spec.replica.identifier, "a standalone instance (promoted), not a read replica of "
                               f"{spec.writer.identifier}" if not source else f"replicates from {source}, "
                               f"not {spec.writer.identifier}"))
    zone = zone_id(clients, spec.zone)
    expected = ((writer.get("Endpoint") or {}).get("Address") or "").rstrip(".")
    current = value(record(clients, zone, spec.writer_record)) if zone else None
    if zone is None:
        found.append(Drift("zone-missing", "global", spec.zone, "the hosted zone does not exist"))
    elif current != expected:
        found.append(Drift("writer-record", "global", spec.writer_record,
                           f"points at {current or 'nothing'}, not the writer {expected}"))
    return found


def converge(clients: ClientFactory, spec: Spec, nameserver: tuple[str, int] | None, nameserver_missing: str = "", *,
             copy_back: bool, delay_s: float = 1.0, attempts: int = 600) -> list[str]:
    """Put a drifted topology back to ``spec``: the writer name, Multi-AZ, a promoted or mis-sourced replica.

    Orders only a promoted copy holds are named and nothing is changed (TopologyError) unless ``copy_back``;
    ``nameserver_missing``, when set, is why the orders cannot be read here. Returns what was done; a
    missing writer is left to the build, which creates it."""
    drifted = {d.kind: d for d in drift(clients, spec)}
    if "writer-missing" in drifted:
        return []
    if "writer-is-replica" in drifted:
        raise TopologyError(f"cannot converge: {drifted['writer-is-replica'].detail}; promote or delete it by hand")
    done: list[str] = []
    replica_drift = {"replica-promoted", "replica-source"} & drifted.keys()
    if replica_drift:
        if nameserver_missing:
            raise TopologyError(f"converging {spec.replica.identifier if spec.replica else '?'}: {nameserver_missing}")
        found = orphans(clients, spec, nameserver)
        if found and not copy_back:
            raise TopologyError(orphan_message(spec, found) + "; nothing was changed. Rerun with "
                                "--copy-back-orphaned-orders to copy them to the writer before the copy is replaced")
    writer = describe(clients, spec.writer)
    assert writer is not None
    zone = zone_id(clients, spec.zone)
    if "writer-record" in drifted and zone is not None:
        current = value(record(clients, zone, spec.writer_record))
        point_record(clients, zone, spec.writer_record, writer["Endpoint"]["Address"], current)
        done.append(f"pointed {spec.writer_record} back at {writer['Endpoint']['Address']} (was {current or 'nothing'})")
    if "multi-az" in drifted:
        clients("rds", spec.writer.region).modify_db_instance(
            DBInstanceIdentifier=spec.writer.identifier, MultiAZ=True, ApplyImmediately=True)
        _wait(clients, spec.writer, "db_instance_available", delay_s, attempts)
        done.append(f"turned Multi-AZ back on for {spec.writer.identifier}")
    if replica_drift:
        done += restore_replica(clients, spec, nameserver, copy_back=copy_back, delay_s=delay_s, attempts=attempts)
    return done


def _copy(clients: ClientFactory, spec: Spec, described: dict[str, Any], region: str) -> orders.Copy:
    return orders.copy_of(clients, described, region, spec.secret_id, spec.secret_region or spec.writer.region)


def orphans(clients: ClientFactory, spec: Spec, nameserver: tuple[str, int] | None) -> list[orders.OrphanedOrder]:
    """Orders on a promoted replica that the writer lacks (read through the endpoints; raises BuildError when
    a copy cannot be read: unknown is never reported as none)."""
    if spec.replica is None:
        return []
    replica_id = spec.replica.identifier
    writer, replica = describe(clients, spec.writer), describe(clients, spec.replica)
    if writer is None or replica is None or _source_of(replica):
        return []  # a replica holds only what it received from its source
    copies = [_copy(clients, spec, writer, spec.writer.region), _copy(clients, spec, replica, spec.replica.region)]
    return orders.with_connections(clients, copies, nameserver,
                                   lambda writer_db, copy_db: orders.orphaned(writer_db, copy_db, replica_id))


def point_record(clients: ClientFactory, zone: str, name: str, endpoint: str | None, expected: str | None) -> None:
    """Point the CNAME ``name`` at ``endpoint`` (None: delete it) if it still points at ``expected``.

    Route 53 has no conditional write for a record, so the record is re-read right before the change and a
    concurrent edit is refused (TopologyError) rather than overwritten; the window left is one API call.
    (A DELETE+CREATE batch would close it on AWS, but the local stack's emulator rejects a CREATE it has seen
    before even after a DELETE in the same batch.)"""
    current = record(clients, zone, name)
    if value(current) == (endpoint.rstrip(".") if endpoint else None):
        return
    if value(current) != (expected.rstrip(".") if expected else None):
        raise TopologyError(f"{name} points at {value(current) or 'nothing'}, not {expected or 'nothing'} as expected: "
                            f"someone else changed it; point it at {endpoint or 'nothing'} by hand once checked")
    change: dict[str, Any]
    if endpoint:
        change = {"Action": "UPSERT", "ResourceRecordSet": {
            "Name": name, "Type": "CNAME", "TTL": int(current["TTL"]) if current else WRITER_TTL_S,
            "ResourceRecords": [{"Value": endpoint}]}}
    else:
        change = {"Action": "DELETE", "ResourceRecordSet": current}
    clients("route53", "us-east-1").change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
        "Comment": f"gameday: {name}", "Changes": [change]})


def _wait(clients: ClientFactory, database: Database, waiter: str, delay_s: float, attempts: int) -> None:
    clients("rds", database.region).get_waiter(waiter).wait(
        DBInstanceIdentifier=database.identifier, WaiterConfig={"Delay": delay_s, "MaxAttempts": attempts})


def restore_replica(clients: ClientFactory, spec: Spec, nameserver: tuple[str, int] | None, *, copy_back: bool,
                    delay_s: float = 1.0, attempts: int = 600) -> list[str]:
    """Make ``spec.replica`` a read replica of the writer again; returns what was done, line by line.

    A promoted copy is replaced only once the writer holds every order it has: with ``copy_back`` they are
    copied to the writer first; without, or when one cannot be copied, TopologyError names them and
    nothing is changed. Waits until the new replica is available."""
    assert spec.replica is not None
    done: list[str] = []
    writer = describe(clients, spec.writer)
    if writer is None:
        raise TopologyError(f"the writer {spec.writer.identifier} ({spec.writer.region}) does not exist; "
                            f"the replica {spec.replica.identifier} cannot be rebuilt from it")
    if writer.get("DBInstanceStatus") != "available":
        # A writer whose Region has just come back may still be rebooting or failing over; RDS refuses
        # a read replica of a source that is not available.
        _wait(clients, spec.writer, "db_instance_available", delay_s, attempts)
    replica = describe(clients, spec.replica)
    if replica is not None and replica.get("DBInstanceStatus") not in ("available", "deleting"):
        # A promotion (or a creation) still under way finishes on its own: judge the instance once it has.
        _wait(clients, spec.replica, "db_instance_available", delay_s, attempts)
        replica = describe(clients, spec.replica)
    if replica is not None and _is_source(_source_of(replica), writer):
        return done
    rds = clients("rds", spec.replica.region)
    # The new replica takes the old one's subnet group, class and tags (the builder's when it is gone).
    subnet_group = ((replica or {}).get("DBSubnetGroup") or {}).get("DBSubnetGroupName") \
        or spec.replica_subnet_group or f"{spec.stack_name}-{spec.replica.region}"
    tags = [t for t in (replica or {}).get("TagList") or [] if not t["Key"].startswith("aws:")] or spec.tags
    if replica is not None:
        if replica.get("DBInstanceStatus") != "deleting":
            done += _reconcile(clients, spec, nameserver, copy_back)
            rds.delete_db_instance(DBInstanceIdentifier=spec.replica.identifier, SkipFinalSnapshot=True)
            done.append(f"deleted the promoted copy {spec.replica.identifier} ({spec.replica.region})")
        _wait(clients, spec.replica, "db_instance_deleted", delay_s, attempts)
    for attempt in range(3):
        _wait(clients, spec.writer, "db_instance_available", delay_s, attempts)  # it may have rebooted meanwhile
        try:
            rds.create_db_instance_read_replica(
                DBInstanceIdentifier=spec.replica.identifier, SourceDBInstanceIdentifier=writer["DBInstanceArn"],
                DBInstanceClass=(replica or writer).get("DBInstanceClass") or writer["DBInstanceClass"],
                SourceRegion=spec.writer.region, DBSubnetGroupName=subnet_group, Tags=tags)
            break
        except ClientError as error:  # the writer left "available" between the wait and the call
            if error.response["Error"]["Code"] != "InvalidDBInstanceState" or attempt == 2:
                raise
    _wait(clients, spec.replica, "db_instance_available", delay_s, attempts)
    done.append(f"rebuilt {spec.replica.identifier} ({spec.replica.region}) as a read replica of {spec.writer.identifier}")
    return done


def _reconcile(clients: ClientFactory, spec: Spec, nameserver: tuple[str, int] | None, copy_back: bool) -> list[str]:
    """Copy the promoted copy's orphaned orders to the writer (or refuse); until a pass finds none new."""
    assert spec.replica is not None
    copied: set[str] = set()
    for _ in range(COPY_BACK_PASSES):
        found = orphans(clients, spec, nameserver)
        if not found:
            return [f"copied {len(copied)} order(s) only {spec.replica.identifier} held back to {spec.writer.identifier}: "
                    + ", ".join(sorted(copied))] if copied else []
        if not copy_back:
            raise TopologyError(orphan_message(spec, found) + "; nothing was changed. Copy them back with "
                                "`gameday stack build --copy-back-orphaned-orders`, or by hand")
        writer = describe(clients, spec.writer)
        replica = describe(clients, spec.replica)
        assert writer is not None and replica is not None
        copies = [_copy(clients, spec, writer, spec.writer.region), _copy(clients, spec, replica, spec.replica.region)]
        refused = orders.with_connections(  # runs now, before the loop moves on: binding `found` late is safe
            clients, copies, nameserver,
            lambda writer_db, copy_db: orders.copy_back(writer_db, copy_db, found))  # noqa: B023
        if refused:
            raise TopologyError(f"{len(refused)} order(s) on {spec.replica.identifier} cannot be copied to "
                                f"{spec.writer.identifier}: " + "; ".join(refused) + f"; {spec.replica.identifier} "
                                "is left in place")
        copied |= {o.order_id for o in found}
        time.sleep(1.0)  # let writes that were in flight to the copy land before looking again
    raise TopologyError(f"{spec.replica.identifier} still receives orders after {COPY_BACK_PASSES} copies: something "
                        f"still writes to it (is {spec.writer_record} pointing back at {spec.writer.identifier}?); "
                        "it is left in place")


def orphan_message(spec: Spec, found: list[orders.OrphanedOrder]) -> str:
    shown = ", ".join(f"{o.order_id} ({o.client_order_id or 'no client id'}, {o.created_at})" for o in found[:20])
    more = f" and {len(found) - 20} more" if len(found) > 20 else ""
    copy = found[0].copy if found else "?"
    return (f"{len(found)} acknowledged order(s) exist only on {copy}, which is not the writer "
            f"{spec.writer.identifier}: {shown}{more}")
