"""An instance's automated backups: a WAL archive, base backups, and point-in-time restore.

RDS ships transaction logs every 5 minutes, so LatestRestorableTime trails now by up to that.
``ship()`` does the same with real WAL: it notes the primary's clock (t0), commits a heartbeat in
the ``rdsadmin`` database, switches the WAL segment and waits until the segment is in the archive.
Every commit up to t0 is then archived, and so is one commit after t0 (the heartbeat), which
recovery needs to *see* to stop at a target <= t0 (PostgreSQL 13+ refuses to end recovery
before reaching its target). So t0 is an honest LatestRestorableTime.
"""
from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from base.deadline import DeadlineExceeded, until
from stack.local.rds import runner
from stack.local.rds.errors import PostgresError, PostgresTimeout
from stack.local.rds.nodeconfig import Archiving, NodeOptions, Upstream, conf_literal
from stack.local.rds.postgres import Node

ADMIN_DB = "rdsadmin"


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    consistent_at: datetime  # the earliest time this backup can be restored to (server clock after it ended)


def create_admin_database(primary: Node) -> None:
    """RDS's own database (heartbeats); created once on a new primary, replicated like the rest."""
    if not primary.query("SELECT 1 FROM pg_database WHERE datname = :n", n=ADMIN_DB):
        primary.create_database(ADMIN_DB)
    primary.query("CREATE TABLE IF NOT EXISTS heartbeat (id int PRIMARY KEY, beat timestamptz NOT NULL)", dbname=ADMIN_DB)
    primary.query("INSERT INTO heartbeat VALUES (1, clock_timestamp()) ON CONFLICT (id) DO NOTHING", dbname=ADMIN_DB)


class BackupStore:
    """WAL archive (wal/) and base backups (base/N/) of one DB instance, owned by postgres."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wal_dir = root / "wal"
        self.base_dir = root / "base"
        self._lock = threading.Lock()
        self.latest_restorable: datetime | None = None

    def prepare(self) -> None:
        runner.give_to_postgres(self.root, 0o711)
        runner.give_to_postgres(self.wal_dir, 0o700)
        runner.give_to_postgres(self.base_dir, 0o700)

    def archiving(self) -> Archiving:
        return Archiving(self.wal_dir, "always")

    def backups(self) -> list[BaseBackup]:
        found = []
        for meta in sorted(self.base_dir.glob("*/gameday-backup.json"), key=lambda p: int(p.parent.name)):
            data = json.loads(meta.read_text())
            found.append(BaseBackup(meta.parent / "data", datetime.fromisoformat(data["consistent_at"])))
        return found

    @property
    def earliest_restorable(self) -> datetime | None:
        backups = self.backups()
        return backups[0].consistent_at if backups else None

    def take_base_backup(self, primary: Node, source: Upstream | None = None, timeout_s: float = 120.0) -> BaseBackup:
        """pg_basebackup of the primary (through ``source``, default its socket) into base/N/."""
        with self._lock:
            number = len(list(self.base_dir.glob("*/"))) + 1
            target = self.base_dir / str(number)
            runner.give_to_postgres(target, 0o700)
            conninfo = (source or primary.local).conninfo(primary.passfile, application_name="gameday-backup")
            runner.run([runner.binary("pg_basebackup"), "-D", str(target / "data"), "-X", "stream", "-c", "fast",
                        "--status-interval=1", "--no-sync", "-d", conninfo],
                       timeout_s, what=f"base backup of node {primary.name}")
            # The backup is consistent once its end WAL is replayed; the server's clock now is past that point.
            consistent_at = primary.now()
            (target / "gameday-backup.json").write_text(json.dumps({"consistent_at": consistent_at.isoformat()}))
            return BaseBackup(target / "data", consistent_at)

    def ship(self, primary: Node, deadline_s: float = 30.0, cancel: threading.Event | None = None) -> datetime:
        """Archive every commit up to now; returns the new LatestRestorableTime (t0, server clock).

        Raises PostgresError when the primary is unreachable and PostgresTimeout when the segment
        does not reach the archive in time.
        """
        connection = primary.connect(ADMIN_DB)
        try:
            # The heartbeat must not wait for a synchronous standby that may be down right now.
            connection.run("SET synchronous_commit = local")
            t0: datetime = connection.run("SELECT clock_timestamp()")[0][0]  # pg8000 maps timestamptz to datetime
            connection.run("UPDATE heartbeat SET beat = clock_timestamp() WHERE id = 1")
            segment: str = connection.run("SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        finally:
            connection.close()

        def archived() -> bool:
            if (self.wal_dir / segment).exists():
                return True
            if cancel is not None and cancel.is_set():
                raise PostgresError(f"shipping WAL of node {primary.name} was cancelled (the instance is stopping)")
            return False

        try:
            until(archived, deadline_s, interval_s=0.01)
        except DeadlineExceeded:
            raise PostgresTimeout(f"WAL segment {segment} of node {primary.name} did not reach the archive "
                                  f"{self.wal_dir} within {deadline_s:.1f} s; its log:\n{primary.log_tail()}") from None
        with self._lock:
            if self.latest_restorable is None or t0 > self.latest_restorable:
                self.latest_restorable = t0
        return t0

    def restore(self, target: Node, at: datetime, options: NodeOptions, deadline_s: float = 120.0) -> None:
        """Build ``target`` as of ``at`` (base backup + archived WAL) and promote it at that point.

        Raises PostgresError when no base backup is older than ``at`` or recovery fails.
        """
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        candidates = [b for b in self.backups() if b.consistent_at <= at]
        if not candidates:
            raise PostgresError(f"no base backup in {self.base_dir} is consistent before {at.isoformat()}; "
                                f"earliest restorable time is {self.earliest_restorable}")
        backup = candidates[-1]
        if target.exists():
            raise PostgresError(f"node {target.name}: {target.data_dir} already holds a cluster")
        runner.give_to_postgres(target.root, 0o711)
        shutil.copytree(backup.path, target.data_dir, symlinks=True)
        _chown_tree(target.data_dir)
        (target.data_dir / "standby.signal").unlink(missing_ok=True)
        runner.write_postgres_file(target.data_dir / "recovery.signal", "")
        target.set_auto_conf({
            "restore_command": conf_literal(f"cp {self.wal_dir}/%f %p"),
            "recovery_target_time": conf_literal(at.isoformat()),
            "recovery_target_inclusive": "on",
            "recovery_target_action": "promote",
            "recovery_target_timeline": conf_literal("latest"),
            "primary_conninfo": None, "synchronous_standby_names": None,
        })
        target.start(options, deadline_s=deadline_s)

        def recovered() -> bool:
            try:
                return not target.in_recovery()
            except Exception:  # noqa: BLE001 - not accepting connections yet, unless it stopped
                if not target.is_running():
                    raise PostgresError(f"node {target.name} stopped during point-in-time recovery to {at.isoformat()}; "
                                        f"its log:\n{target.log_tail()}") from None
                return False

        try:
            until(recovered, deadline_s, interval_s=0.01)
        except DeadlineExceeded:
            raise PostgresTimeout(f"node {target.name} did not finish recovery to {at.isoformat()} within "
                                  f"{deadline_s:.1f} s; its log:\n{target.log_tail()}") from None
        # The recovery settings did their job; a later restart must not replay towards them again.
        target.set_auto_conf({"restore_command": None, "recovery_target_time": None, "recovery_target_inclusive": None,
                              "recovery_target_action": None, "recovery_target_timeline": None})

    def destroy(self) -> None:
        runner.remove_tree(self.root)


def _chown_tree(path: Path) -> None:
    import os
    import pwd

    if os.geteuid() != 0:
        return
    account = pwd.getpwnam(runner.POSTGRES_USER)
    for directory, dirs, files in os.walk(path):
        os.chown(directory, account.pw_uid, account.pw_gid)
        for name in files + dirs:
            os.chown(os.path.join(directory, name), account.pw_uid, account.pw_gid, follow_symlinks=False)
