"""The RDS part: DB instances are real PostgreSQL servers, driven through the RDS API.

The part's life: it starts with the services it requires (stack.local.services: ``Network`` for
its nodes' private addresses, ``ServiceRecords`` for their endpoint names, the control plane's
``RdsStore`` for moto's bookkeeping) and provides ``DbStatus``, which the control plane's validators
ask for the live status. It answers the RDS operations whose effect or answer only a data plane
knows (api.py), runs each DB instance's operations on the fleet (fleet.py), watches the primaries
(monitor.py), and keeps a registry of what it started so a crashed run's servers are found
(registry.py). DeleteDBInstance is left to moto; ``on_change`` then stops and removes the servers.
"""
from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.rds import registry as registry_
from stack.local.rds.api import RdsApi
from stack.local.rds.database import Database
from stack.local.rds.events import EventLog
from stack.local.rds.fleet import Fleet
from stack.local.rds.monitor import Monitor
from stack.local.rds.placement import AddressBook
from stack.local.rds.timing import RdsTiming
from stack.local.rds.wiring import ServiceWiring, Wiring
from stack.local.services import DbStatus, Network, RdsStore, ServiceRecords


class RdsPart:
    name: ClassVar[str] = "rds"
    provides: ClassVar[tuple[type, ...]] = (DbStatus,)
    requires: ClassVar[tuple[type, ...]] = (Network, ServiceRecords, RdsStore)

    def __init__(self, timing: RdsTiming | None = None, via_fabric: bool = True,
                 wiring: Callable[[PartContext, RdsTiming], Wiring] | None = None) -> None:
        self._timing_override = timing
        self._via_fabric = via_fabric
        self._wiring_factory = wiring
        self.context: PartContext | None = None
        self.timing = timing or RdsTiming()
        self.events = EventLog()
        self.log = logging.getLogger("gameday.rds")
        self.fleet = Fleet(self.log)
        self.api: RdsApi | None = None
        self.store: RdsStore  # the control plane's, from start() on
        self._monitor: Monitor | None = None
        self._addresses: AddressBook | None = None
        self._storage: Path | None = None
        self._registry: registry_.Registry | None = None

    # ----- lifecycle ---------------------------------------------------------------------------
    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Stop the PostgreSQL servers and remove the files a crashed run left (registry.py)."""
        return registry_.cleanup_leftovers(context.state_dir)

    def start(self, context: PartContext) -> None:
        self.context = context
        self.log = context.log
        self.store = context.require(RdsStore)
        # Timings can be set in the environment (its ``rds:`` section, validated when the file was loaded).
        self.timing = self._timing_override or RdsTiming.from_settings(context.timescale, context.environment.rds)
        for note in self.cleanup_leftovers(context):
            self.log.info("before start: %s", note)
        self._registry = registry_.Registry(context.state_dir)
        self._storage = self._registry.create_storage()
        if self._wiring_factory is not None:
            self.wiring: Wiring = self._wiring_factory(context, self.timing)
        else:
            # RDS's 5 s TTL in AWS seconds: Route 53 scales it, once, when it serves the record.
            ttl_s = math.ceil(self.timing.endpoint_ttl_s)
            self.wiring = ServiceWiring(context, ttl_s, self._via_fabric)
        self.fleet.log = self.log
        self.fleet.stopping.clear()
        self.fleet.settled = self._record_nodes
        self._addresses = AddressBook(context.environment, self.store)
        self.api = RdsApi(self.fleet, self.store, self._addresses, self._registry, self._storage, self.timing,
                          self.wiring, self.events, self.log)
        self._monitor = Monitor(self.fleet.databases, self.fleet.run, self.timing, self.wiring, context.client,
                                self.fleet.lock, self.log)
        self._monitor.start()

    def stop(self) -> None:
        """Stop every server, thread and file of the part; safe to call twice."""
        self.fleet.stopping.set()
        databases = self.fleet.take_all()
        for database in databases:
            database.stopping.set()
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None

        def delete(database: Database) -> None:
            try:
                database.delete()
            except Exception:
                self.log.exception("stopping DB instance %s failed", database.identifier)

        # In parallel: `stack down` should not take the sum of every instance's shutdown.
        deleters = [threading.Thread(target=delete, args=(db,), name=f"rds stop {db.identifier}") for db in databases]
        for deleter in deleters:
            deleter.start()
        for deleter in deleters:
            deleter.join(timeout=60)
        self.fleet.join(timeout_s=30)
        if self._storage is not None:
            for note in registry_.cleanup_leftovers(self.context.state_dir if self.context else Path("/nonexistent")):
                self.log.info("at stop: %s", note)
            self._storage = None
        if self._registry is not None:
            self._registry.remove()
            try:
                self._registry.path.parent.rmdir()
            except OSError:
                pass

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return self.api.answers() if self.api is not None else {}

    def on_change(self, change: Change) -> None:
        request = change.request
        if request.service == "rds" and request.operation == "DeleteDBInstance" and self.api is not None:
            identifier = str(request.params.get("DBInstanceIdentifier", "")).lower()
            database = self.fleet.pop(request.region, identifier)
            if database is not None:
                database.status = "deleting"
                api = self.api
                self.fleet.run(f"delete {identifier}", lambda: api.delete(database), database=None)

    def status(self) -> Mapping[str, Any]:
        return {
            "storage_root": str(self._storage) if self._storage else None,
            "instances": {
                f"{db.region}/{db.identifier}": {
                    "status": db.status,
                    "endpoint": db.fqdn,
                    "primary": _member_status(db.primary),
                    "standby": _member_status(db.standby),
                    "source": db.source.identifier if db.source else None,
                    "replica_lag_s": db.last_replica_lag_s,
                    "latest_restorable_time": db.latest_restorable_time.isoformat() if db.latest_restorable_time else None,
                } for db in self.fleet.databases()
            },
            "events": [f"{e.date.isoformat()} {e.source_identifier} {e.event_id}" for e in self.events.all()[-20:]],
        }

    def health(self) -> Health:
        with self.fleet.lock:
            failing = dict(self._monitor.failing) if self._monitor is not None else {}
            return Health.of(self.fleet.problems(failing))

    def status_of(self, db_instance_identifier: str, region: str) -> str | None:
        """The live status of an instance this part runs; None when it does not run it (the DbStatus service)."""
        with self.fleet.lock:
            database = self.fleet.get(region, db_instance_identifier)
            return database.status if database else None

    def database(self, db_instance_identifier: str, region: str) -> Database | None:
        """The data plane of an instance (benchmarks and tests look at its nodes)."""
        return self.fleet.get(region, db_instance_identifier)

    def _record_nodes(self) -> None:
        if self._registry is None:
            return
        for database in self.fleet.databases():
            for member in database.members():
                self._registry.record_node(member.node.data_dir, member.node.pid)


def _member_status(member: Any) -> dict[str, Any] | None:
    if member is None:
        return None
    return {"node": member.node.name, "az": member.placement.az, "address": member.placement.address,
            "pid": member.node.pid, "data_dir": str(member.node.data_dir), "socket": str(member.node.socket_path)}
