"""The RDS operations the part answers itself: the data plane's side of the RDS API.

moto stays the store of every instance's configuration; each handler checks what only the data plane
knows (an instance's live status, its standby, its backups), calls moto's backend for the
bookkeeping through the control plane's ``RdsStore``, starts the operation's real effect on the
fleet (fleet.py), and answers with moto's model and the data plane's live fields (status, AZs after
a failover, LatestRestorableTime, replication status) laid over it. It also writes status and AZs
back into moto's model, so the calls moto answers (ModifyDBInstance, tags...) agree.

RebootDBInstance re-checks the status under the fleet's lock, so two concurrent reboots cannot both
pass (the second gets InvalidDBInstanceState).
"""
from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stack.local.awserror import AwsError
from stack.local.part import ApiHandler, ApiRequest, ApiResponse
from stack.local.rds import runner
from stack.local.rds.archive import BackupStore
from stack.local.rds.database import Database
from stack.local.rds.events import EventLog
from stack.local.rds.fleet import Fleet
from stack.local.rds.placement import AddressBook
from stack.local.rds.nodeconfig import PORT, Credentials
from stack.local.rds.postgres import Node
from stack.local.rds.registry import Registry
from stack.local.rds.timing import RdsTiming
from stack.local.rds.wiring import Placement, Wiring
from stack.local.services import RdsStore

SUPPORTED_ENGINES = ("postgres",)


class RdsApi:
    def __init__(self, fleet: Fleet, store: RdsStore, addresses: AddressBook, registry: Registry, storage: Path,
                 timing: RdsTiming, wiring: Wiring, events: EventLog, log: logging.Logger) -> None:
        self.fleet, self.store, self.addresses, self.registry = fleet, store, addresses, registry
        self.storage, self.timing, self.wiring, self.events, self.log = storage, timing, wiring, events, log
        self._node_counter = itertools.count(1)

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {("rds", operation): handler for operation, handler in {
            "CreateDBInstance": self.create_db_instance,
            "CreateDBInstanceReadReplica": self.create_db_instance_read_replica,
            "DescribeDBInstances": self.describe_db_instances,
            "RebootDBInstance": self.reboot_db_instance,
            "PromoteReadReplica": self.promote_read_replica,
            "RestoreDBInstanceToPointInTime": self.restore_db_instance_to_point_in_time,
            "DescribeEvents": self.describe_events,
        }.items()}

    def create_db_instance(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("CreateDBInstance", request.params)
        engine = str(params.get("engine", ""))
        if engine not in SUPPORTED_ENGINES:
            raise AwsError("InvalidParameterValue", f"Engine {engine!r} is not supported by the local stack's RDS; "
                                                    f"allowed: {', '.join(SUPPORTED_ENGINES)}")
        credentials = _credentials(params)
        _check_db_name(params.get("db_name"))
        version = str(params.get("engine_version") or runner.version())
        if version.split(".")[0] != runner.version().split(".")[0]:
            raise AwsError("InvalidParameterCombination", f"Cannot find version {version} for postgres "
                                                          f"(the local stack runs PostgreSQL {runner.version()})")
        params["engine_version"] = version
        multi_az = bool(params.get("multi_az"))
        placements = self._place(request.region, params.get("db_subnet_group_name"), params.get("availability_zone"),
                                 2 if multi_az else 1, int(params.get("port") or PORT))
        model = self.store.create(request.region, params)
        retention = int(params.get("backup_retention_period", 1) if params.get("backup_retention_period") is not None else 1)
        database = self._new_database(request.region, model, credentials, retention)
        self.fleet.run(f"create {database.identifier}",
                  lambda: database.create(placements[0], placements[1] if multi_az else None,
                                          db_name=params.get("db_name")), database)
        return self.store.respond("CreateDBInstance", {"DBInstance": self._shown(model, database)})

    def create_db_instance_read_replica(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("CreateDBInstanceReadReplica", request.params)
        source_ref = str(params["source_db_instance_identifier"])
        source_region, source_id = _split_reference(source_ref, request.region)
        with self.fleet.lock:
            source = self.fleet.get(source_region, source_id)
        if source is None:
            raise AwsError("DBInstanceNotFound", f"DBInstance {source_ref} not found.", 404)
        if source.status != "available" or source.source is not None:
            raise AwsError("InvalidDBInstanceState",
                           f"DB instance {source_id} is {source.status!r}{' and a read replica' if source.source else ''}; "
                           f"a read replica needs an 'available' source instance")
        if source.backups is None:
            raise AwsError("InvalidDBInstanceState", "Automated backups are not enabled for this database instance. "
                                                     "To enable automated backups, use ModifyDBInstance to set the backup "
                                                     "retention period to a non-zero value.")
        placement = self._place(request.region, params.get("db_subnet_group_name"), params.get("availability_zone"),
                                1, PORT)[0]
        model = self.store.create_read_replica(request.region, params)
        self.store.update(request.region, model.db_instance_identifier, multi_az=False)
        database = self._new_database(request.region, model, source.credentials, 0, source=source)
        source.replicas.append(database)
        self.fleet.run(f"create replica {database.identifier}", lambda: database.create_replica(placement), database)
        return self.store.respond("CreateDBInstanceReadReplica", {"DBInstance": self._shown(model, database)})

    def describe_db_instances(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("DescribeDBInstances", request.params)
        filters = {f["Name"]: f["Values"] for f in params.get("filters", []) or []}
        models = self.store.describe(request.region, params.get("db_instance_identifier"), filters)
        start = int(params.get("marker") or 0)
        size = int(params.get("max_records") or 100)
        page = models[start:start + size]
        shown = [self._shown(m, self.fleet.get(request.region, m.db_instance_identifier)) for m in page]
        result: dict[str, Any] = {"DBInstances": shown}
        if start + size < len(models):
            result["Marker"] = str(start + size)
        return self.store.respond("DescribeDBInstances", result)

    def reboot_db_instance(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("RebootDBInstance", request.params)
        identifier = str(params["db_instance_identifier"]).lower()
        model = self.store.describe(request.region, identifier)[0]
        force = bool(params.get("force_failover"))
        # RDS checks its standby's host before failing over to it: a standby whose AZ is cut off would
        # become a primary nobody can reach. Asked outside the lock: the probe may wait out its timeout.
        standby = getattr(self.fleet.get(request.region, identifier), "standby", None)
        standby_reachable = (self.wiring.probe(standby, self.timing.probe_timeout_s)
                             if force and standby is not None else None)
        with self.fleet.lock:
            database = self.fleet.get(request.region, identifier)
            if database is None:
                raise AwsError("InvalidDBInstanceState", f"DB instance {identifier} has no running server in the local stack")
            if database.status != "available":
                raise AwsError("InvalidDBInstanceState",
                               f"DB instance {identifier} is in state {database.status!r}; it must be 'available' to reboot")
            if force and not database.multi_az:
                raise AwsError("InvalidParameterCombination",
                               f"Cannot force a failover for DB instance {identifier}: it is not a Multi-AZ instance")
            if force and not database.synchronous:
                raise AwsError("InvalidDBInstanceState",
                               f"Cannot fail over DB instance {identifier} now: its standby in "
                               f"{database.secondary_availability_zone} is not synchronized (it is being rebuilt "
                               f"or is unreachable); try again once it is")
            if force and standby_reachable is False:
                raise AwsError("InvalidDBInstanceState",
                               f"Cannot fail over DB instance {identifier} now: its standby in "
                               f"{database.secondary_availability_zone} is unreachable; try again once its AZ is reachable")
            database.set_status("rebooting")
        if force:
            self.fleet.run(f"failover {identifier}", lambda: database.failover(automatic=False), database)
        else:
            self.fleet.run(f"reboot {identifier}", database.reboot, database)
        return self.store.respond("RebootDBInstance", {"DBInstance": self._shown(model, database)})

    def promote_read_replica(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("PromoteReadReplica", request.params)
        identifier = str(params["db_instance_identifier"]).lower()
        model = self.store.describe(request.region, identifier)[0]
        given = params.get("backup_retention_period")
        retention = int(given) if given is not None else 1
        with self.fleet.lock:
            database = self.fleet.get(request.region, identifier)
            if database is None or database.source is None:
                raise AwsError("InvalidDBInstanceState", f"DB instance {identifier} is not a read replica.")
            if database.status != "available":
                raise AwsError("InvalidDBInstanceState",
                               f"DB instance {identifier} is in state {database.status!r}; it must be 'available' to be promoted")
            database.set_status("modifying")
        source = database.source
        source_model = self.store.model(source.region, source.identifier)
        self.store.promote_read_replica(request.region, params)
        if source_model is not None:
            self.store.update(source.region, source.identifier, replicas=[
                r for r in source_model.replicas if r not in (identifier, model.db_instance_arn)])
        self.store.update(request.region, identifier, source_db_instance_identifier=None,
                          backup_retention_period=retention)
        backups = self._backup_store(database.identifier) if retention > 0 else None
        self.fleet.run(f"promote {identifier}", lambda: database.promote_replica(backups), database)
        return self.store.respond("PromoteReadReplica", {"DBInstance": self._shown(model, database)})

    def restore_db_instance_to_point_in_time(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("RestoreDBInstanceToPointInTime", request.params)
        source_id = str(params.get("source_db_instance_identifier", "")).lower()
        target_id = str(params["target_db_instance_identifier"]).lower()
        with self.fleet.lock:
            source = self.fleet.get(request.region, source_id)
        if source is None:
            raise AwsError("DBInstanceNotFound", f"DBInstance {source_id} not found.", 404)
        if source.backups is None:
            raise AwsError("PointInTimeRestoreNotEnabled",
                           f"SourceDBInstanceIdentifier {source_id} refers to a DB instance with BackupRetentionPeriod equal to 0.")
        latest = source.latest_restorable_time
        earliest = source.backups.earliest_restorable
        if latest is None or earliest is None:
            raise AwsError("InvalidDBInstanceState", f"DB instance {source_id} has no restorable backup yet; try again shortly")
        use_latest = bool(params.get("use_latest_restorable_time"))
        restore_time = params.get("restore_time")
        if use_latest and restore_time is not None:
            raise AwsError("InvalidParameterCombination", "Cannot specify both RestoreTime and UseLatestRestorableTime")
        if not use_latest and restore_time is None:
            raise AwsError("InvalidParameterValue", "Either RestoreTime or UseLatestRestorableTime must be specified")
        at = latest if use_latest else _utc(restore_time)
        if at > latest:
            raise AwsError("InvalidRestoreFault", f"The restore time {_iso(at)} is after the latest restorable time "
                                                  f"{_iso(latest)} of DB instance {source_id}")
        if at < earliest:
            raise AwsError("InvalidRestoreFault", f"The restore time {_iso(at)} is before the earliest restorable time "
                                                  f"{_iso(earliest)} of DB instance {source_id}")
        multi_az = bool(params.get("multi_az"))
        subnet_group = params.get("db_subnet_group_name") or self._subnet_group_name(source)
        placements = self._place(request.region, subnet_group, params.get("availability_zone"), 2 if multi_az else 1,
                                 int(params.get("port") or PORT))
        model = self.store.restore_to_point_in_time(request.region, source_id, target_id, params)
        self.store.update(request.region, target_id, multi_az=multi_az)
        retention = int(getattr(self.store.model(source.region, source.identifier), "backup_retention_period", 1) or 0)
        database = self._new_database(request.region, model, source.credentials, retention)
        source_backups = source.backups
        self.fleet.run(f"restore {target_id}",
                  lambda: database.restore(source_backups, source_id, at, placements[0],
                                           placements[1] if multi_az else None), database)
        return self.store.respond("RestoreDBInstanceToPointInTime", {"DBInstance": self._shown(model, database)})

    def describe_events(self, request: ApiRequest) -> ApiResponse:
        params = self.store.parse("DescribeEvents", request.params)
        source_id = params.get("source_identifier")
        source_type = params.get("source_type")
        if source_id is not None and source_type is None:
            raise AwsError("InvalidParameterCombination", "Cannot specify source identifier without source type")
        start = _utc(params["start_time"]) if params.get("start_time") else None
        end = _utc(params["end_time"]) if params.get("end_time") else None
        events = self.events.query(request.region, source_id, source_type, start, end,
                                   int(params["duration"]) if params.get("duration") else None,
                                   list(params.get("event_categories") or []))
        rows: list[dict[str, Any]] = [{
            "SourceIdentifier": e.source_identifier, "SourceType": e.source_type, "Message": e.message,
            "EventCategories": list(e.event_categories), "Date": e.date, "SourceArn": e.source_arn,
        } for e in events]
        # Snapshots and other sources stay moto's; db-instance events are the data plane's (moto's are fiction).
        if source_type in (None, "db-snapshot"):
            for event in self.store.events(request.region):
                if event.source_type == "db-instance" or (source_id and event.source_identifier != source_id):
                    continue
                rows.append({"SourceIdentifier": event.source_identifier, "SourceType": event.source_type,
                             "Message": event.message, "EventCategories": list(event.event_categories),
                             "Date": _utc(event.date), "SourceArn": event.source_arn})
        rows.sort(key=lambda row: row["Date"])
        start_index = int(params.get("marker") or 0)
        size = int(params.get("max_records") or 100)
        result: dict[str, Any] = {"Events": rows[start_index:start_index + size]}
        if start_index + size < len(rows):
            result["Marker"] = str(start_index + size)
        return self.store.respond("DescribeEvents", result)

    def _place(self, region: str, subnet_group: Any, az: Any, count: int, port: int) -> list[Placement]:
        return self.addresses.place(region, subnet_group, az, count, port)

    def _subnet_group_name(self, database: Database) -> str | None:
        group = getattr(self.store.model(database.region, database.identifier), "db_subnet_group", None)
        return getattr(group, "name", None)

    def _new_database(self, region: str, model: Any, credentials: Credentials, retention: int,
                      source: Database | None = None) -> Database:
        identifier = model.db_instance_identifier
        database = Database(
            identifier=identifier, region=region, arn=model.db_instance_arn, fqdn=model.address,
            credentials=credentials, timing=self.timing, wiring=self.wiring, events=self.events,
            new_node=self._new_node, on_change=self._sync_model, log=self.log,
            backups=self._backup_store(identifier) if retention > 0 and source is None else None, source=source)
        self.fleet.add(database)
        self._sync_model(database)
        return database

    def _new_node(self, name: str, credentials: Credentials) -> Node:
        return Node(name, self.storage / f"n{next(self._node_counter)}", credentials)

    def _backup_store(self, identifier: str) -> BackupStore:
        return BackupStore(self.storage / f"b{next(self._node_counter)}")

    def _shown(self, model: Any, database: Database | None) -> Any:
        if database is None:
            return model
        overrides: dict[str, Any] = {
            "status": database.status,
            "latest_restorable_time": database.latest_restorable_time,
            "secondary_availability_zone": database.secondary_availability_zone,
        }
        if database.availability_zone:
            overrides["availability_zone"] = database.availability_zone
            overrides["multi_az"] = database.multi_az
        if database.source is not None:
            lag = database.last_replica_lag_s
            replicating = database.status == "available" and lag is not None and lag >= 0
            overrides["status_infos"] = [{
                "StatusType": "read replication", "Normal": replicating or lag is None,
                "Status": "replicating" if replicating or lag is None else "error",
                **({} if replicating or lag is None else {"Message": "Replication is not streaming"}),
            }]
        return self.store.shown(model, overrides)

    def _sync_model(self, database: Database) -> None:
        """Write the live status and AZs into moto's model, so moto-answered calls agree."""
        fields: dict[str, Any] = {"status": database.status, "secondary_availability_zone": database.secondary_availability_zone}
        if database.availability_zone:
            fields |= {"availability_zone": database.availability_zone, "multi_az": database.multi_az}
        self.store.update(database.region, database.identifier, **fields)

    def delete(self, database: Database) -> None:
        """The real effect of DeleteDBInstance (moto already forgot the instance): stop and remove its servers."""
        for replica in list(database.replicas):
            if replica.status == "deleting" or replica.stopping.is_set():
                # Its own DeleteDBInstance came first (the part marks it deleting before that call returns), and
                # its servers may still be going: there is nothing left to promote.
                continue
            # PostgreSQL replicas of a deleted source become standalone instances, as on RDS.
            self.store.update(replica.region, replica.identifier, is_replica=False, source_db_instance_identifier=None)
            replica.set_status("modifying")
            replica.promote_replica(None)
        members = database.members()
        database.delete()
        database.emit("RDS-EVENT-0003")
        for member in members:
            self.addresses.release(member.placement)
            self.registry.forget_node(member.node.data_dir)


# RDS for PostgreSQL's DBName: 1 to 63 letters, digits or underscores, the first a letter (CreateDBInstance).
DB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")


def _check_db_name(name: Any) -> None:
    """Refuse a DBName RDS refuses, before anything is created (the name also goes into CREATE DATABASE)."""
    if name is not None and not DB_NAME.fullmatch(str(name)):
        raise AwsError("InvalidParameterValue", f"DBName must begin with a letter and contain only alphanumeric "
                                                f"characters. Got {str(name)!r}; allowed: 1 to 63 letters, digits or "
                                                f"underscores, the first a letter.")


def _credentials(params: Any) -> Credentials:
    user, password = params.get("master_username"), params.get("master_user_password")
    if params.get("manage_master_user_password"):
        raise AwsError("InvalidParameterCombination", "ManageMasterUserPassword is not supported by the local stack's RDS; "
                                                      "give MasterUsername and MasterUserPassword")
    if not user or not password:
        raise AwsError("InvalidParameterValue", "MasterUsername and MasterUserPassword must be provided")
    if len(str(password)) < 8:
        raise AwsError("InvalidParameterValue", "The parameter MasterUserPassword is not a valid password because it "
                                                "is shorter than 8 characters.")
    return Credentials(str(user), str(password))


def _split_reference(reference: str, default_region: str) -> tuple[str, str]:
    """An instance identifier or ARN (arn:aws:rds:<region>:<account>:db:<id>) as (region, id)."""
    if reference.startswith("arn:"):
        parts = reference.split(":")
        if len(parts) < 7 or parts[5] != "db":
            raise AwsError("InvalidParameterValue", f"{reference!r} is not a DB instance ARN such as "
                                                    f"arn:aws:rds:us-east-1:123456789012:db:orders")
        return parts[3], parts[6].lower()
    return default_region, reference.lower()


def _utc(value: object) -> datetime:
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, datetime):
        moment = value
    else:
        raise AwsError("InvalidParameterValue", f"RestoreTime {value!r} is not a timestamp")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
