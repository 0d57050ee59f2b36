"""One RDS DB instance's data plane: its PostgreSQL nodes and what RDS does to them.

A read replica is an asynchronous hot standby of its source's primary; a Multi-AZ instance's
standby and its failover are in stack.local.rds.multiaz. Every operation runs under the instance's
lock, in the part's worker threads, and takes at least RDS's (scaled) phase durations.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime
from typing import Callable, Iterator

from base.deadline import Deadline
from stack.local.rds import multiaz
from stack.local.rds.archive import BackupStore, create_admin_database
from stack.local.rds.events import EventLog
from stack.local.rds.nodeconfig import Credentials, NodeOptions
from stack.local.rds.postgres import Node
from stack.local.rds.timing import PhaseRange, RdsTiming
from stack.local.rds.wiring import Member, Placement, Wiring

NodeFactory = Callable[[str, Credentials], Node]
START_DEADLINE_S = 60.0


class Database:
    def __init__(self, identifier: str, region: str, arn: str, fqdn: str, credentials: Credentials,
                 timing: RdsTiming, wiring: Wiring, events: EventLog, new_node: NodeFactory,
                 on_change: Callable[["Database"], None], log: logging.Logger,
                 backups: BackupStore | None = None, source: "Database | None" = None) -> None:
        self.identifier = identifier
        self.region = region
        self.arn = arn
        self.fqdn = fqdn
        self.credentials = credentials
        self.timing = timing
        self.wiring = wiring
        self.events = events
        self.new_node = new_node
        self.on_change = on_change
        self.log = log
        self.backups = backups
        self.source = source
        self.status = "creating"
        self.primary: Member | None = None
        self.standby: Member | None = None
        self.replicas: list[Database] = []
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.last_failover_at: float | None = None
        self.last_failover_phases_s: dict[str, float] = {}  # wall seconds RDS's phases were given, last failover
        # True while commits wait for the standby. False while the standby is being rebuilt or is cut
        # off: then the primary runs alone, and a failover would lose commits, so none is done.
        self.synchronous = False
        # True when a failover could not rebuild the old primary as the standby yet (for example its
        # new primary was not reachable from it): the monitor retries; the standby must not start as is.
        self.standby_needs_rebuild = False
        self.unreachable_probes = 0
        self.standby_lost_since: float | None = None
        self.next_deep_check_at = 0.0
        self.last_replica_lag_s: float | None = None
        self.next_base_backup_at = 0.0

    # ----- what DescribeDBInstances shows ---------------------------------------------------
    @property
    def multi_az(self) -> bool:
        return self.standby is not None

    @property
    def availability_zone(self) -> str | None:
        return self.primary.placement.az if self.primary else None

    @property
    def secondary_availability_zone(self) -> str | None:
        return self.standby.placement.az if self.standby else None

    @property
    def latest_restorable_time(self) -> datetime | None:
        return self.backups.latest_restorable if self.backups else None

    def members(self) -> list[Member]:
        return [m for m in (self.primary, self.standby) if m is not None]

    def set_status(self, status: str) -> None:
        self.status = status
        self.on_change(self)

    def emit(self, event_id: str, **fields: str) -> None:
        self.events.emit(event_id, self.region, self.identifier, self.arn, **fields)
        self.log.info("%s %s: %s", self.region, self.identifier, event_id)

    @contextlib.contextmanager
    def phase(self, phase: PhaseRange, name: str = "") -> Iterator[None]:
        """Run the body, then wait out the rest of RDS's (scaled, sampled) duration for the phase."""
        duration_s = self.timing.sample(phase)
        if name:
            self.last_failover_phases_s[name] = duration_s
        deadline = Deadline.after(duration_s)
        yield
        self.stopping.wait(deadline.remaining())

    def _node_options(self, role: str) -> NodeOptions:
        archiving = self.backups.archiving() if self.backups is not None and role != "replica" else None
        return NodeOptions(hot_standby=role != "standby", archiving=archiving,
                           # Floor of 3 s: below that a busy machine drops healthy streams (pg_basebackup's too).
                           replication_timeout_s=self.timing.scale.timeout(self.timing.replication_timeout_s, floor=3.0))

    def start_member(self, member: Member, role: str) -> None:
        member.node.start(self._node_options(role), deadline_s=START_DEADLINE_S)
        self.wiring.attach(member)

    # ----- creation ---------------------------------------------------------------------------
    def create(self, primary: Placement, standby: Placement | None, db_name: str | None = None) -> None:
        """CreateDBInstance: a new primary (initdb), then a synchronous standby for Multi-AZ."""
        with self.lock:
            self.primary = Member(self.new_node(f"{self.identifier}-{primary.az}", self.credentials), primary)
            self.primary.node.init()
            self.start_member(self.primary, "primary")
            create_admin_database(self.primary.node)
            if db_name and db_name != "postgres":
                self.primary.node.create_database(db_name)
            if standby is not None:
                multiaz.add_standby(self, standby, START_DEADLINE_S)
            self._start_backups()
            self.wiring.point(self.fqdn, primary.address)
            self.emit("RDS-EVENT-0005")
            self.set_status("available")

    def create_replica(self, placement: Placement) -> None:
        """CreateDBInstanceReadReplica: an asynchronous hot standby of the source's primary."""
        source = self.source
        assert source is not None and source.primary is not None
        with self.lock:
            self.primary = Member(self.new_node(f"{self.identifier}-{placement.az}", self.credentials), placement)
            self.primary.node.clone_from(source.wiring.upstream(source.primary))
            self.start_member(self.primary, "replica")
            self.primary.node.wait_streaming(START_DEADLINE_S)
            self.wiring.point(self.fqdn, placement.address)
            self.emit("RDS-EVENT-0005")
            self.set_status("available")

    def restore(self, source_backups: BackupStore, source_identifier: str, at: datetime,
                primary: Placement, standby: Placement | None) -> None:
        """RestoreDBInstanceToPointInTime: a new instance from the source's base backup and WAL, as of ``at``."""
        with self.lock:
            self.primary = Member(self.new_node(f"{self.identifier}-{primary.az}", self.credentials), primary)
            # Recovery runs without archiving: the new instance's archive starts after its promotion.
            source_backups.restore(self.primary.node, at, NodeOptions(), deadline_s=START_DEADLINE_S)
            self.primary.node.stop("fast")
            self.start_member(self.primary, "primary")
            if standby is not None:
                multiaz.add_standby(self, standby, START_DEADLINE_S)
            self._start_backups()
            self.wiring.point(self.fqdn, primary.address)
            self.emit("RDS-EVENT-0019", source=source_identifier, target=self.identifier)
            self.emit("RDS-EVENT-0005")
            self.set_status("available")

    def _start_backups(self) -> None:
        if self.backups is None or self.primary is None:
            return
        self.backups.prepare()
        self.emit("RDS-EVENT-0001")
        self.backups.take_base_backup(self.primary.node, self.wiring.upstream(self.primary))
        self.emit("RDS-EVENT-0002")
        self.backups.ship(self.primary.node, cancel=self.stopping)
        self.next_base_backup_at = time.monotonic() + self.timing.scaled(86400)

    # ----- Multi-AZ (stack.local.rds.multiaz) ----------------------------------------------------
    def standby_streaming(self) -> bool:
        return multiaz.standby_streaming(self)

    def resync(self) -> None:
        multiaz.resync(self)

    def degrade(self) -> None:
        multiaz.degrade(self)

    def failover(self, automatic: bool) -> None:
        multiaz.failover(self, automatic)

    def rebuild_standby(self) -> None:
        multiaz.rebuild_standby(self)

    def replace_standby(self) -> None:
        multiaz.replace_standby(self)

    # ----- reboot -----------------------------------------------------------------------------------
    def reboot(self) -> None:
        """RebootDBInstance without failover: the primary restarts in place (caller set 'rebooting')."""
        with self.lock:
            assert self.primary is not None
            with self.phase(self.timing.reboot_s):
                self.primary.node.stop("fast")
                self.emit("RDS-EVENT-0004")
            self.start_member(self.primary, "replica" if self.source is not None else "primary")
            self.emit("RDS-EVENT-0006")
            self.set_status("available")

    def recover_single_az(self) -> None:
        """Single-AZ recovery after the primary's process died: restart in place (crash recovery)."""
        with self.lock:
            assert self.primary is not None
            self.emit("RDS-EVENT-0004")
            self.primary.node.stop("immediate")
            self.start_member(self.primary, "replica" if self.source is not None else "primary")
            self.emit("RDS-EVENT-0006")
            self.set_status("available")

    # ----- read replicas ------------------------------------------------------------------------
    def promote_replica(self, backups: BackupStore | None) -> None:
        """PromoteReadReplica: stop following the source, reboot as a standalone writable instance."""
        with self.lock:
            assert self.primary is not None
            with self.phase(self.timing.promote_replica_s):
                self.primary.node.promote()
                if self.source is not None and self in self.source.replicas:
                    self.source.replicas.remove(self)
                self.source = None
                self.backups = backups
                # Archiving is a restart-only setting: the promoted instance reboots with it, as on RDS.
                self.primary.node.stop("fast")
                self.start_member(self.primary, "primary")
                self.emit("RDS-EVENT-0006")
            self._start_backups()
            self.set_status("available")

    def replica_lag_s(self) -> float | None:
        """ReplicaLag of a read replica (seconds, -1 when not replicating); None for a source."""
        if self.source is None or self.primary is None:
            return None
        try:
            lag = self.primary.node.replica_lag_s()
        except Exception:
            lag = -1.0
        self.last_replica_lag_s = lag
        return lag

    # ----- backups and deletion -------------------------------------------------------------------
    def ship_logs(self) -> None:
        """Archive WAL up to now (LatestRestorableTime) and take the daily base backup when due."""
        if self.backups is None or self.status not in ("available", "modifying", "backing-up"):
            return
        with self.lock:
            if self.primary is None or not self.primary.node.is_running():
                return
            if time.monotonic() >= self.next_base_backup_at:
                self.backups.take_base_backup(self.primary.node, self.wiring.upstream(self.primary))
                self.next_base_backup_at = time.monotonic() + self.timing.scaled(86400)
            self.backups.ship(self.primary.node, cancel=self.stopping)

    def delete(self) -> None:
        """DeleteDBInstance: stop every server and remove its data (and the instance's backups)."""
        self.stopping.set()
        with self.lock:
            try:
                self.wiring.unpoint(self.fqdn)
            except Exception as error:  # Route 53 may already be gone at `stack down`
                self.log.warning("%s: removing endpoint %s failed: %s", self.identifier, self.fqdn, error)
            for member in self.members():
                try:
                    self.wiring.detach(member)
                except Exception as error:  # so may the fabric
                    self.log.warning("%s: detaching %s failed: %s", self.identifier, member.node.name, error)
                member.node.destroy()
            if self.backups is not None:
                self.backups.destroy()
            if self.source is not None and self in self.source.replicas:
                self.source.replicas.remove(self)
            self.primary = self.standby = None
