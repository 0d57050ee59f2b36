"""Multi-AZ: an instance's synchronous standby, and failover to it in RDS's order.

A Multi-AZ instance is a primary plus a synchronous standby (hot_standby off: it serves no reads)
in another AZ. These functions run under the instance's lock, in the part's worker threads.

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
import time
from typing import TYPE_CHECKING

from base.deadline import Deadline, DeadlineExceeded, until
from stack.local.rds.errors import PostgresError
from stack.local.rds.wiring import Member, Placement

if TYPE_CHECKING:
    from stack.local.rds.database import Database


def add_standby(db: Database, placement: Placement, deadline_s: float) -> None:
    """Clone a standby in ``placement`` from the primary and make it synchronous within ``deadline_s``."""
    assert db.primary is not None
    db.standby = Member(db.new_node(f"{db.identifier}-{placement.az}", db.credentials), placement)
    db.standby.node.clone_from(db.wiring.upstream(db.primary))
    db.start_member(db.standby, "standby")
    if not make_synchronous(db, deadline_s):
        raise PostgresError(f"standby {db.standby.node.name} of {db.identifier} did not stream from its primary "
                            f"within {deadline_s:.0f} s; its log:\n{db.standby.node.log_tail()}")


def standby_streaming(db: Database) -> bool:
    """Whether the standby streams from the primary now (asked of the primary through its socket)."""
    if db.primary is None or db.standby is None:
        return False
    try:
        rows = db.primary.node.query("SELECT state FROM pg_stat_replication WHERE application_name = :n",
                                     n=db.standby.node.name)
    except Exception:
        return False
    return rows == [["streaming"]]


def make_synchronous(db: Database, deadline_s: float) -> bool:
    """Once the standby streams, make every commit wait for it. False if it does not stream in time.

    Naming a standby that is not connected would block every commit, so the name is set only
    once the standby streams.
    """
    assert db.primary is not None and db.standby is not None
    def streaming_or_stopping() -> str:
        if standby_streaming(db):
            return "streaming"
        return "stopping" if db.stopping.is_set() else ""

    deadline = Deadline.after(deadline_s)
    try:
        if until(streaming_or_stopping, deadline_s, interval_s=0.02) == "stopping":
            return False
    except DeadlineExceeded:
        return False
    db.primary.node.set_synchronous_standbys([db.standby.node.name])
    db.primary.node.wait_synchronous(db.standby.node.name, max(5.0, deadline.remaining()))
    db.synchronous = True
    db.standby_lost_since = None
    return True


def resync(db: Database) -> None:
    """The standby streams again: restore synchronous replication."""
    with db.lock:
        if db.standby is not None and not db.synchronous and make_synchronous(db, 5.0):
            db.log.info("%s: standby %s is synchronous again", db.identifier, db.standby.node.name)


def degrade(db: Database) -> None:
    """The standby has been cut off for RDS's detection time: let the primary commit alone.

    Otherwise every commit would hang; from now on no failover is made (it would lose these commits).
    """
    with db.lock:
        if db.primary is None or not db.synchronous:
            return
        db.primary.node.set_synchronous_standbys([])
        db.synchronous = False
        db.log.warning("%s: standby unreachable; the primary commits without it until it is back", db.identifier)


def failover(db: Database, automatic: bool) -> None:
    """Multi-AZ failover in RDS's order (caller set 'rebooting'):

    0013; the primary stops (killed when automatic: fencing); the standby is promoted; the
    endpoint record moves; 0015 and 0049; the AZs swap; the old primary is rewound into the
    new standby and synchronous replication is restored; 'available'.

    A standby that does not answer on its address when it is about to be promoted (its AZ was
    cut off after the request was accepted) is never promoted: the old primary comes back (0065).
    """
    with db.lock:
        old, new = db.primary, db.standby
        assert old is not None and new is not None
        db.last_failover_at = time.monotonic()
        db.emit("RDS-EVENT-0013")
        with db.phase(db.timing.failover_shutdown_s, "shutdown"):
            # A dead or isolated primary is killed outright; a healthy one shuts down cleanly.
            old.node.stop("immediate" if automatic else "fast", deadline_s=db.timing.scale.timeout(10, floor=1.0))
        with db.phase(db.timing.failover_promote_s, "promote"):
            # Asked at the last moment (a cut made during the shutdown counts), within the phase's time.
            reachable = _answers(db, new)
            if reachable:
                new.node.promote()
        if not reachable:
            _abandon_failover(db, old)
            return
        db.primary, db.standby = new, old
        db.synchronous = False  # until the old primary is back as the new standby
        with db.phase(db.timing.failover_dns_s, "dns"):
            pass
        db.wiring.point(db.fqdn, new.placement.address)
        db.emit("RDS-EVENT-0015")
        db.emit("RDS-EVENT-0049")
        db.on_change(db)  # the AZ swap shows now
        _try_rebuild(db)
        db.set_status("available")
        _repoint_replicas(db)


def _answers(db: Database, member: Member, attempts: int = 3) -> bool:
    """Whether ``member`` answers on its address (True without a network to ask). One late answer on a busy
    machine is not a cut-off AZ, so only ``attempts`` misses in a row count, as for RDS's monitor."""
    return any(db.wiring.probe(member, db.timing.probe_timeout_s) is not False for _ in range(attempts))


def _abandon_failover(db: Database, old: Member) -> None:
    """The standby cannot be reached: start the old primary again as the primary (a "partial failover").

    Nothing is lost: the standby was never promoted, and the old primary holds every commit it acknowledged.
    Its synchronous standby setting stays, so commits wait until the monitor degrades the lost standby.
    """
    db.log.warning("%s: standby %s does not answer on its address; not promoting it, restarting the primary",
                     db.identifier, db.standby.node.name if db.standby else "?")
    db.start_member(old, "replica" if db.source is not None else "primary")
    db.emit("RDS-EVENT-0065")
    db.set_status("available")


def _try_rebuild(db: Database) -> bool:
    """Rebuild the old primary as the standby (True when it was); when that fails the new primary serves alone
    until the monitor retries."""
    try:
        _rebuild(db)
        db.standby_needs_rebuild = False
        return True
    except Exception as error:
        if db.stopping.is_set():
            raise
        db.standby_needs_rebuild = True
        db.synchronous = False
        db.log.warning("%s: the standby could not be rebuilt yet; the primary commits alone until it is: %s",
                         db.identifier, error)
        return False


def rebuild_standby(db: Database) -> None:
    """The monitor's retry of a failed rebuild (see ``standby_needs_rebuild``)."""
    with db.lock:
        if not db.standby_needs_rebuild or db.standby is None or db.primary is None:
            return
        if db.standby.node.is_running():
            db.standby.node.stop("immediate")
        if _try_rebuild(db):
            db.log.info("%s: standby %s rebuilt", db.identifier, db.standby.node.name)


def _rebuild(db: Database) -> None:
    assert db.primary is not None and db.standby is not None
    standby = db.standby
    try:
        standby.node.rewind_from(db.wiring.upstream(db.primary))
    except PostgresError as error:
        # A rewind can fail (for example when the WAL it needs is gone): clone afresh instead.
        db.log.warning("%s: pg_rewind of %s failed, cloning instead: %s", db.identifier, standby.node.name, error)
        standby.node.destroy()
        standby.node.clone_from(db.wiring.upstream(db.primary))
    db.start_member(standby, "standby")
    # A standby in a cut-off AZ cannot stream yet; the monitor makes it synchronous once it does.
    if not make_synchronous(db, db.timing.scale.timeout(60, floor=5.0)):
        db.log.warning("%s: rebuilt standby %s does not stream yet; the primary commits alone meanwhile",
                         db.identifier, standby.node.name)


def _repoint_replicas(db: Database) -> None:
    assert db.primary is not None
    upstream = db.wiring.upstream(db.primary)
    for replica in list(db.replicas):
        with replica.lock:
            member = replica.primary
            if member is None or replica.status == "deleting":
                continue
            try:
                member.node.follow(upstream)
                member.node.wait_streaming(db.timing.scale.timeout(30, floor=2.0))
            except PostgresError:
                # The replica received WAL the new primary never had (possible after a crash): rewind it.
                # If the new primary cannot be reached now, the replica lags (ReplicaLag shows it) rather than
                # failing its source: a replica's trouble never fails the instance it reads from.
                try:
                    member.node.stop("fast")
                    member.node.rewind_from(upstream)
                    replica.start_member(member, "replica")
                except Exception as error:
                    db.log.warning("%s: read replica %s could not follow the new primary yet: %s",
                                     db.identifier, replica.identifier, error)
                    if not member.node.is_running():
                        with contextlib.suppress(Exception):
                            replica.start_member(member, "replica")


def replace_standby(db: Database) -> None:
    """The standby's process died: start it again, or clone a new one when it cannot start."""
    with db.lock:
        if db.standby is None or db.primary is None:
            return
        db.standby.node.stop("immediate")
        try:
            db.start_member(db.standby, "standby")
        except PostgresError as error:
            db.log.warning("%s: standby %s did not restart, cloning a new one: %s", db.identifier,
                             db.standby.node.name, error)
            db.standby.node.destroy()
            db.standby.node.clone_from(db.wiring.upstream(db.primary))
            db.start_member(db.standby, "standby")
        if not db.synchronous:
            make_synchronous(db, 5.0)
