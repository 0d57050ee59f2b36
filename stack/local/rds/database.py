"""One RDS DB instance's data plane: its PostgreSQL nodes and what RDS does to them.

A Multi-AZ instance is a primary plus a synchronous standby (hot_standby off: it serves no
reads) in another AZ. A read replica is an asynchronous hot standby of its source's primary.
Every operation runs under the instance's lock, in the part's worker threads, and takes at least
RDS's (scaled) phase durations.

Fencing. An acknowledged commit is never lost, and an old primary never takes a write that is
later lost, because:
- synchronous_commit=on with ``FIRST 1 (standby)``: a commit is acknowledged only once the
  standby has flushed it, and promotion replays everything flushed;
- before the standby is promoted, the old primary is stopped (a user failover) or killed (an
  automatic one, even if its process still runs), so no two writers ever overlap;
- an old primary only comes back through pg_rewind as a standby (standby.signal): it is never
  started as a writer again, so commits it made locally without the standby's ack (never
  acknowledged to a client) are discarded.
One caveat is PostgreSQL's, not ours: a client that *cancels* a commit while it waits for the
standby gets a warning, and the commit stays local; such a commit was not acknowledged as durable.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import datetime
from typing import Callable, Iterator

from stack.local.rds.archive import BackupStore, create_admin_database
from stack.local.rds.errors import PostgresError
from stack.local.rds.events import EventLog
from stack.local.rds.postgres import Credentials, Node, NodeOptions
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
    def _phase(self, phase: PhaseRange, name: str = "") -> Iterator[None]:
        """Run the body, then wait out the rest of RDS's (scaled, sampled) duration for the phase."""
        duration_s = self.timing.sample(phase)
        if name:
            self.last_failover_phases_s[name] = duration_s
        deadline = time.monotonic() + duration_s
        yield
        self.stopping.wait(max(0.0, deadline - time.monotonic()))

    def _node_options(self, role: str) -> NodeOptions:
        archiving = self.backups.archiving() if self.backups is not None and role != "replica" else None
        return NodeOptions(hot_standby=role != "standby", archiving=archiving,
                           # Floor of 3 s: below that a busy machine drops healthy streams (pg_basebackup's too).
                           replication_timeout_s=max(3.0, self.timing.scaled(self.timing.replication_timeout_s)))

    def _start(self, member: Member, role: str) -> None:
        member.node.start(self._node_options(role), deadline_s=START_DEADLINE_S)
        self.wiring.attach(member)

    # ----- creation ---------------------------------------------------------------------------
    def create(self, primary: Placement, standby: Placement | None, db_name: str | None = None) -> None:
        """CreateDBInstance: a new primary (initdb), then a synchronous standby for Multi-AZ."""
        with self.lock:
            self.primary = Member(self.new_node(f"{self.identifier}-{primary.az}", self.credentials), primary)
            self.primary.node.init()
            self._start(self.primary, "primary")
            create_admin_database(self.primary.node)
            if db_name and db_name != "postgres":
                self.primary.node.query(f'CREATE DATABASE "{db_name}"')
            if standby is not None:
                self._add_standby(standby)
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
            self._start(self.primary, "replica")
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
            self._start(self.primary, "primary")
            if standby is not None:
                self._add_standby(standby)
            self._start_backups()
            self.wiring.point(self.fqdn, primary.address)
            self.emit("RDS-EVENT-0019", source=source_identifier, target=self.identifier)
            self.emit("RDS-EVENT-0005")
            self.set_status("available")

    def _add_standby(self, placement: Placement) -> None:
        assert self.primary is not None
        self.standby = Member(self.new_node(f"{self.identifier}-{placement.az}", self.credentials), placement)
        self.standby.node.clone_from(self.wiring.upstream(self.primary))
        self._start(self.standby, "standby")
        if not self._make_synchronous(START_DEADLINE_S):
            raise PostgresError(f"standby {self.standby.node.name} of {self.identifier} did not stream from its primary "
                                f"within {START_DEADLINE_S:.0f} s; its log:\n{self.standby.node.log_tail()}")

    def standby_streaming(self) -> bool:
        """Whether the standby streams from the primary now (asked of the primary through its socket)."""
        if self.primary is None or self.standby is None:
            return False
        try:
            rows = self.primary.node.query("SELECT state FROM pg_stat_replication WHERE application_name = :n",
                                           n=self.standby.node.name)
        except Exception:
            return False
        return rows == [["streaming"]]

    def _make_synchronous(self, deadline_s: float) -> bool:
        """Once the standby streams, make every commit wait for it. False if it does not stream in time.

        Naming a standby that is not connected would block every commit, so the name is set only
        once the standby streams.
        """
        assert self.primary is not None and self.standby is not None
        deadline = time.monotonic() + deadline_s
        while not self.standby_streaming():
            if time.monotonic() > deadline or self.stopping.is_set():
                return False
            time.sleep(0.02)
        self.primary.node.set_synchronous_standbys([self.standby.node.name])
        self.primary.node.wait_synchronous(self.standby.node.name, max(5.0, deadline - time.monotonic()))
        self.synchronous = True
        self.standby_lost_since = None
        return True

    def resync(self) -> None:
        """The standby streams again: restore synchronous replication."""
        with self.lock:
            if self.standby is not None and not self.synchronous and self._make_synchronous(5.0):
                self.log.info("%s: standby %s is synchronous again", self.identifier, self.standby.node.name)

    def degrade(self) -> None:
        """The standby has been cut off for RDS's detection time: let the primary commit alone.

        Otherwise every commit would hang; from now on no failover is made (it would lose these commits).
        """
        with self.lock:
            if self.primary is None or not self.synchronous:
                return
            self.primary.node.set_synchronous_standbys([])
            self.synchronous = False
            self.log.warning("%s: standby unreachable; the primary commits without it until it is back", self.identifier)

    def _start_backups(self) -> None:
        if self.backups is None or self.primary is None:
            return
        self.backups.prepare()
        self.emit("RDS-EVENT-0001")
        self.backups.take_base_backup(self.primary.node, self.wiring.upstream(self.primary))
        self.emit("RDS-EVENT-0002")
        self.backups.ship(self.primary.node, cancel=self.stopping)
        self.next_base_backup_at = time.monotonic() + self.timing.scaled(86400)

    # ----- reboot and failover ----------------------------------------------------------------
    def reboot(self) -> None:
        """RebootDBInstance without failover: the primary restarts in place (caller set 'rebooting')."""
        with self.lock:
            assert self.primary is not None
            with self._phase(self.timing.reboot_s):
                self.primary.node.stop("fast")
                self.emit("RDS-EVENT-0004")
            self._start(self.primary, "replica" if self.source is not None else "primary")
            self.emit("RDS-EVENT-0006")
            self.set_status("available")

    def failover(self, automatic: bool) -> None:
        """Multi-AZ failover in RDS's order (caller set 'rebooting'):

        0013; the primary stops (killed when automatic: fencing); the standby is promoted; the
        endpoint record moves; 0015 and 0049; the AZs swap; the old primary is rewound into the
        new standby and synchronous replication is restored; 'available'.

        A standby that does not answer on its address when it is about to be promoted (its AZ was
        cut off after the request was accepted) is never promoted: the old primary comes back (0065).
        """
        with self.lock:
            old, new = self.primary, self.standby
            assert old is not None and new is not None
            self.last_failover_at = time.monotonic()
            self.emit("RDS-EVENT-0013")
            with self._phase(self.timing.failover_shutdown_s, "shutdown"):
                # A dead or isolated primary is killed outright; a healthy one shuts down cleanly.
                old.node.stop("immediate" if automatic else "fast", deadline_s=max(1.0, self.timing.scaled(10)))
            with self._phase(self.timing.failover_promote_s, "promote"):
                # Asked at the last moment (a cut made during the shutdown counts), within the phase's time.
                reachable = self._answers(new)
                if reachable:
                    new.node.promote()
            if not reachable:
                self._abandon_failover(old)
                return
            self.primary, self.standby = new, old
            self.synchronous = False  # until the old primary is back as the new standby
            with self._phase(self.timing.failover_dns_s, "dns"):
                pass
            self.wiring.point(self.fqdn, new.placement.address)
            self.emit("RDS-EVENT-0015")
            self.emit("RDS-EVENT-0049")
            self.on_change(self)  # the AZ swap shows now
            self._try_rebuild_standby()
            self.set_status("available")
            self._repoint_replicas()

    def _answers(self, member: Member, attempts: int = 3) -> bool:
        """Whether ``member`` answers on its address (True without a network to ask). One late answer on a busy
        machine is not a cut-off AZ, so only ``attempts`` misses in a row count, as for RDS's monitor."""
        return any(self.wiring.probe(member, self.timing.probe_timeout_s) is not False for _ in range(attempts))

    def _abandon_failover(self, old: Member) -> None:
        """The standby cannot be reached: start the old primary again as the primary (a "partial failover").

        Nothing is lost: the standby was never promoted, and the old primary holds every commit it acknowledged.
        Its synchronous standby setting stays, so commits wait until the monitor degrades the lost standby.
        """
        self.log.warning("%s: standby %s does not answer on its address; not promoting it, restarting the primary",
                         self.identifier, self.standby.node.name if self.standby else "?")
        self._start(old, "replica" if self.source is not None else "primary")
        self.emit("RDS-EVENT-0065")
        self.set_status("available")

    def _try_rebuild_standby(self) -> None:
        """Rebuild the old primary as the standby; when that fails the new primary serves alone until the monitor retries."""
        try:
            self._rebuild_standby()
            self.standby_needs_rebuild = False
        except Exception as error:
            if self.stopping.is_set():
                raise
            self.standby_needs_rebuild = True
            self.synchronous = False
            self.log.warning("%s: the standby could not be rebuilt yet; the primary commits alone until it is: %s",
                             self.identifier, error)

    def rebuild_standby(self) -> None:
        """The monitor's retry of a failed rebuild (see ``standby_needs_rebuild``)."""
        with self.lock:
            if not self.standby_needs_rebuild or self.standby is None or self.primary is None:
                return
            if self.standby.node.is_running():
                self.standby.node.stop("immediate")
            self._try_rebuild_standby()
            if not self.standby_needs_rebuild:
                self.log.info("%s: standby %s rebuilt", self.identifier, self.standby.node.name)

    def _rebuild_standby(self) -> None:
        assert self.primary is not None and self.standby is not None
        standby = self.standby
        try:
            standby.node.rewind_from(self.wiring.upstream(self.primary))
        except PostgresError as error:
            # A rewind can fail (for example when the WAL it needs is gone): clone afresh instead.
            self.log.warning("%s: pg_rewind of %s failed, cloning instead: %s", self.identifier, standby.node.name, error)
            standby.node.destroy()
            standby.node.clone_from(self.wiring.upstream(self.primary))
        self._start(standby, "standby")
        # A standby in a cut-off AZ cannot stream yet; the monitor makes it synchronous once it does.
        if not self._make_synchronous(max(5.0, self.timing.scaled(60))):
            self.log.warning("%s: rebuilt standby %s does not stream yet; the primary commits alone meanwhile",
                             self.identifier, standby.node.name)

    def _repoint_replicas(self) -> None:
        assert self.primary is not None
        upstream = self.wiring.upstream(self.primary)
        for replica in list(self.replicas):
            with replica.lock:
                member = replica.primary
                if member is None or replica.status == "deleting":
                    continue
                member.node.follow(upstream)
                try:
                    member.node.wait_streaming(max(2.0, self.timing.scaled(30)))
                except PostgresError:
                    # The replica received WAL the new primary never had (possible after a crash): rewind it.
                    # If the new primary cannot be reached now, the replica lags (ReplicaLag shows it) rather than
                    # failing its source: a replica's trouble never fails the instance it reads from.
                    try:
                        member.node.stop("fast")
                        member.node.rewind_from(upstream)
                        replica._start(member, "replica")
                    except Exception as error:
                        self.log.warning("%s: read replica %s could not follow the new primary yet: %s",
                                         self.identifier, replica.identifier, error)
                        if not member.node.is_running():
                            with contextlib.suppress(Exception):
                                replica._start(member, "replica")

    def recover_single_az(self) -> None:
        """Single-AZ recovery after the primary's process died: restart in place (crash recovery)."""
        with self.lock:
            assert self.primary is not None
            self.emit("RDS-EVENT-0004")
            self.primary.node.stop("immediate")
            self._start(self.primary, "replica" if self.source is not None else "primary")
            self.emit("RDS-EVENT-0006")
            self.set_status("available")

    def replace_standby(self) -> None:
        """The standby's process died: start it again, or clone a new one when it cannot start."""
        with self.lock:
            if self.standby is None or self.primary is None:
                return
            self.standby.node.stop("immediate")
            try:
                self._start(self.standby, "standby")
            except PostgresError as error:
                self.log.warning("%s: standby %s did not restart, cloning a new one: %s", self.identifier,
                                 self.standby.node.name, error)
                self.standby.node.destroy()
                self.standby.node.clone_from(self.wiring.upstream(self.primary))
                self._start(self.standby, "standby")
            if not self.synchronous:
                self._make_synchronous(5.0)

    # ----- read replicas ------------------------------------------------------------------------
    def promote_replica(self, backups: BackupStore | None) -> None:
        """PromoteReadReplica: stop following the source, reboot as a standalone writable instance."""
        with self.lock:
            assert self.primary is not None
            with self._phase(self.timing.promote_replica_s):
                self.primary.node.promote()
                if self.source is not None and self in self.source.replicas:
                    self.source.replicas.remove(self)
                self.source = None
                self.backups = backups
                # Archiving is a restart-only setting: the promoted instance reboots with it, as on RDS.
                self.primary.node.stop("fast")
                self._start(self.primary, "primary")
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
