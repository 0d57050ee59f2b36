"""One PostgreSQL server (a *node*): its data directory, its Unix socket and its role.

A node listens only on its own Unix socket (``listen_addresses=''``): the network fabric exposes
it on the node's private 127.x address, port 5432, by forwarding to that socket, so every client,
including a standby's walreceiver, reaches it through the fabric and its faults.

A node's identity (cluster_name, socket directory, port, archive directory) is given on the
command line with ``-c``, never in a file: pg_basebackup and pg_rewind copy configuration files
from the source node. Role settings that change at run time (primary_conninfo,
synchronous_standby_names) live in postgresql.auto.conf, which the node manager rewrites and
reloads (a hot-standby-off standby accepts no SQL, so ALTER SYSTEM is not an option there).

Secrets. Replication uses its own role (stack.local.rds.replication), never the master user, and no
password is ever on a command line or in a setting: libpq reads it from the node's passfile (0600,
owned by postgres). PostgreSQL logs a reloaded primary_conninfo in full, so a password in it would
land in the log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pg8000.native

from base.deadline import DeadlineExceeded, until
from stack.local import process as executor
from stack.local.rds import replication, runner
from stack.local.rds.errors import CheckpointFailed, PostgresError, PostgresTimeout
from stack.local.rds.nodeconfig import BASE_SETTINGS, PORT, Credentials, NodeOptions, Upstream, conf_literal

POLL_S = 0.005  # pg_ctl -w polls every 100 ms; failover timing needs finer steps
CHECKPOINT_TIMEOUT_S = 30.0
StopMode = Literal["smart", "fast", "immediate", "kill"]
_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT, "kill": signal.SIGKILL}


class Node:
    """A PostgreSQL server in ``root`` (data/, s/ for the socket, log) run as postgres."""

    def __init__(self, name: str, root: Path, credentials: Credentials) -> None:
        self.name = name
        self.root = root
        self.credentials = credentials
        self.data_dir = root / "data"
        self.socket_dir = root / "s"
        self.log_path = root / "postgres.log"
        self.passfile = root / "pgpass"
        self._needs_replication_role = False
        self.options = NodeOptions()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # ----- identity and inspection -------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{PORT}"

    @property
    def local(self) -> Upstream:
        """This node reached directly through its socket (no fabric)."""
        return Upstream(str(self.socket_dir), PORT)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        return process.pid

    def is_running(self) -> bool:
        return self.pid is not None

    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def _pm_status(self) -> str:
        """Line 8 of postmaster.pid: starting, stopping, ready or standby (up, no connections)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return ""
        return lines[7].strip() if len(lines) >= 8 else ""

    def connect(self, dbname: str = "postgres", timeout_s: float = 5.0) -> pg8000.native.Connection:
        """A connection through the node's socket as the master user; raises pg8000 errors.

        ssl_context=False: pg8000 otherwise builds a default SSL context (about 60 ms) on every connect.
        """
        return pg8000.native.Connection(self.credentials.user, password=self.credentials.password,
                                        unix_sock=str(self.socket_path), database=dbname, timeout=timeout_s,
                                        application_name="gameday-rds", ssl_context=False)

    def query(self, sql: str, dbname: str = "postgres", **params: Any) -> list[list[Any]]:
        connection = self.connect(dbname)
        try:
            rows: list[list[Any]] = connection.run(sql, **params)  # pg8000 is untyped: rows of any column type
            return rows
        finally:
            connection.close()

    def create_database(self, name: str) -> None:
        """CREATE DATABASE by copying the template's files (FILE_COPY), not block by block through shared buffers
        and the WAL (WAL_LOG, the default since PostgreSQL 15): that way dirtied about 8 MiB of buffers per
        database, which the checkpointer then kept resident for the node's life (a primary's 16 MiB PSS for the two the
        stack makes), and about 4 MB of WAL each to archive and stream."""
        self.query(f'CREATE DATABASE "{name}" STRATEGY = FILE_COPY')

    def in_recovery(self) -> bool:
        return bool(self.query("SELECT pg_is_in_recovery()")[0][0])

    # ----- lifecycle ---------------------------------------------------------------------
    def _prepare_dirs(self) -> None:
        runner.give_to_postgres(self.root, 0o711)
        runner.give_to_postgres(self.socket_dir, 0o755)
        runner.write_postgres_file(self.passfile, replication.passfile_line(self.credentials.replication_password))

    def init(self, timeout_s: float = 60.0) -> None:
        """initdb with the master user and password (SCRAM for every connection)."""
        self._prepare_dirs()
        if self.exists():
            raise PostgresError(f"node {self.name}: {self.data_dir} already holds a cluster; delete it first")
        pwfile = self.root / "pwfile"
        runner.write_postgres_file(pwfile, self.credentials.password + "\n")
        try:
            # --no-sync: an OS crash is not part of what the local stack models; the running server keeps fsync on.
            runner.run([runner.binary("initdb"), "-D", str(self.data_dir), "-U", self.credentials.user,
                        f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
                        "--no-instructions"], timeout_s, what=f"initdb for node {self.name}")
        finally:
            pwfile.unlink(missing_ok=True)
        self._needs_replication_role = True  # created once the new cluster accepts connections
        conf = self.data_dir / "postgresql.conf"
        extra = "\n# gameday: shared by every node of an instance\n" + "".join(f"{k} = {v}\n" for k, v in BASE_SETTINGS.items())
        runner.write_postgres_file(conf, conf.read_text() + extra)

    def _command_line(self) -> list[str]:
        timeout_ms = max(1000, int(self.options.replication_timeout_s * 1000))
        settings = {
            "cluster_name": self.name,
            "unix_socket_directories": str(self.socket_dir),
            "listen_addresses": "",
            "port": str(PORT),
            "hot_standby": "on" if self.options.hot_standby else "off",
            "wal_sender_timeout": f"{timeout_ms}ms",
            "wal_receiver_timeout": f"{timeout_ms}ms",
            "wal_retrieve_retry_interval": f"{max(50, timeout_ms // 20)}ms",
        }
        if self.options.archiving is not None:
            settings["archive_mode"] = self.options.archiving.mode
            settings["archive_command"] = self.options.archiving.command()
        else:
            settings["archive_mode"] = "off"
        settings.update(self.options.extra)
        args = [runner.binary("postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        return args

    def start(self, options: NodeOptions | None = None, deadline_s: float = 30.0) -> int:
        """Start the server and wait until it is up; returns the postmaster's pid.

        A primary is up when it accepts connections; a standby with hot_standby off when the
        postmaster says so (it accepts none). Raises PostgresError (with the log's tail) or PostgresTimeout.
        """
        with self._lock:
            if self.is_running():
                raise PostgresError(f"node {self.name} is already running as pid {self.pid}")
            if options is not None:
                self.options = options
            self._prepare_dirs()
            if runner.cluster_pids(self.data_dir):
                raise PostgresError(f"node {self.name}: processes of an earlier server still use {self.data_dir}")
            self._process = runner.spawn(self._command_line(), self.log_path)
            self.wait_up(deadline_s)
            if self._needs_replication_role:
                self._create_replication_role()
                self._needs_replication_role = False
            pid = self.pid
            assert pid is not None
            return pid

    def _create_replication_role(self) -> None:
        verifier = replication.scram_verifier(self.credentials.replication_password)
        connection = self.connect()
        try:
            connection.run(f"CREATE ROLE {replication.USER} WITH LOGIN REPLICATION PASSWORD "
                           f"{pg8000.native.literal(verifier)}")
            for grant in replication.GRANTS:
                connection.run(grant)
        finally:
            connection.close()

    def wait_up(self, deadline_s: float) -> None:
        try:
            until(self._up, deadline_s, interval_s=POLL_S)
        except DeadlineExceeded:
            raise PostgresTimeout(f"node {self.name} was not up within {deadline_s:.1f} s (postmaster status "
                                  f"{self._pm_status() or 'none'!r}); its log:\n{self.log_tail()}") from None

    def _up(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            raise PostgresError(f"node {self.name} exited while starting; its log ({self.log_path}):\n{self.log_tail()}")
        status = self._pm_status()
        return status == "standby" or (status == "ready" and self._accepts_connections())

    def _accepts_connections(self) -> bool:
        try:
            self.connect(timeout_s=2.0).close()
            return True
        except Exception:
            return False

    def stop(self, mode: StopMode = "fast", deadline_s: float = 30.0) -> None:
        """Stop the server (and wait for every process of the cluster to exit). Safe when stopped."""
        with self._lock:
            process = self._process
            if process is not None:
                executor.stop(process, deadline_s, _STOP_SIGNALS[mode])
            else:
                # A postmaster we did not start (a crashed supervisor's): stop it by its pid file.
                self._stop_foreign(mode, deadline_s)
            self._process = None
            self._wait_cluster_gone(deadline_s)

    def _stop_foreign(self, mode: StopMode, deadline_s: float) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return
        if pid in runner.cluster_pids(self.data_dir):
            try:
                os.kill(pid, _STOP_SIGNALS[mode])
            except ProcessLookupError:
                pass

    def _wait_cluster_gone(self, deadline_s: float) -> None:
        # Children of a killed postmaster notice its death and exit on their own; wait for them
        # so a restart or pg_rewind never races them.
        # Whatever stays is killed, and killed again every 5 s until it is gone.
        grace_s = deadline_s
        while executor.stop_pids((), lambda: runner.cluster_pids(self.data_dir), grace_s, interval_s=POLL_S).killed:
            grace_s = 5.0

    def destroy(self) -> None:
        """Stop immediately and remove the node's directory (data, socket, log)."""
        self.stop("immediate")
        runner.remove_tree(self.root)

    def log_tail(self, lines: int = 20) -> str:
        return executor.tail(self.log_path, lines)

    # ----- replication -------------------------------------------------------------------
    def clone_from(self, source: Upstream, timeout_s: float = 120.0) -> None:
        """Make this node a standby of ``source`` with pg_basebackup (-R -X stream -c fast)."""
        self._prepare_dirs()
        if self.exists():
            raise PostgresError(f"node {self.name}: {self.data_dir} already holds a cluster; a clone needs an empty one")
        runner.remove_tree(self.data_dir)
        conninfo = source.conninfo(self.passfile, application_name=self.name)
        runner.run([runner.binary("pg_basebackup"), "-D", str(self.data_dir), "-R", "-X", "stream", "-c", "fast",
                    "--status-interval=1", "--no-sync", "-d", conninfo],
                   timeout_s, what=f"pg_basebackup for node {self.name}")
        self.configure_standby(source)

    def rewind_from(self, source: Upstream, timeout_s: float = 120.0) -> None:
        """Turn this (stopped) former primary into a standby of ``source`` with pg_rewind -R.

        pg_rewind first runs crash recovery in single-user mode when the node was not shut down
        cleanly, then copies what diverged; the result only ever starts as a standby.
        """
        if self.is_running():
            raise PostgresError(f"node {self.name} must be stopped before pg_rewind")
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self._prepare_dirs()
        conninfo = source.conninfo(self.passfile, application_name=self.name, dbname="postgres")
        # A just-promoted source writes its new timeline to pg_control only at its next checkpoint;
        # without one pg_rewind sees one timeline and says "no rewind required".
        _checkpoint(conninfo, self.name)
        runner.run([runner.binary("pg_rewind"), "-D", str(self.data_dir), f"--source-server={conninfo}", "-R",
                    "--no-sync"], timeout_s, what=f"pg_rewind of node {self.name}")
        self.configure_standby(source)

    def configure_standby(self, source: Upstream) -> None:
        """Point this node's recovery at ``source`` and drop what only a primary may carry."""
        (self.data_dir / "recovery.signal").unlink(missing_ok=True)
        runner.write_postgres_file(self.data_dir / "standby.signal", "")
        self.set_auto_conf({
            "primary_conninfo": conf_literal(source.conninfo(self.passfile, application_name=self.name)),
            # A clone copies the primary's list; on a promoted standby it would block every commit.
            "synchronous_standby_names": None,
            "recovery_target_time": None, "recovery_target_action": None, "restore_command": None,
        })

    def follow(self, source: Upstream, deadline_s: float = 10.0) -> None:
        """Repoint a running standby at a new upstream.

        PostgreSQL 13+ rereads primary_conninfo on reload and restarts its walreceiver when it changed. The reload
        is a signal, so this waits until the walreceiver that was running (if any) has gone: until then it may still
        be streaming from the old upstream, and ``wait_streaming`` would take that for the new one."""
        conninfo = conf_literal(source.conninfo(self.passfile, application_name=self.name))
        if not self.set_auto_conf({"primary_conninfo": conninfo}):
            return  # unchanged: PostgreSQL keeps its walreceiver
        try:
            before = self._walreceiver_pid()  # before the reload that makes PostgreSQL read the new setting
        except Exception:  # noqa: BLE001 - a standby that takes no connections: nothing to tell apart
            before = None
        self.reload()
        if before is None:
            return
        try:
            until(lambda: self._walreceiver_pid() != before, deadline_s, interval_s=0.02, ignore=(Exception,))
        except DeadlineExceeded:
            raise PostgresTimeout(f"node {self.name} kept its walreceiver (pid {before}) for {deadline_s:.1f} s after "
                                  f"primary_conninfo changed; its log:\n{self.log_tail()}") from None

    def _walreceiver_pid(self) -> int | None:
        rows = self.query("SELECT pid FROM pg_stat_wal_receiver")
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def set_synchronous_standbys(self, names: list[str]) -> None:
        """Require a commit to be flushed on the first of ``names`` before it is acknowledged."""
        value = None if not names else conf_literal("FIRST 1 (" + ", ".join(f'"{n}"' for n in names) + ")")
        self.set_auto_conf({"synchronous_standby_names": value})
        self.reload()

    def wait_synchronous(self, standby: str, deadline_s: float) -> None:
        """Wait until ``standby`` streams as this primary's synchronous standby."""
        try:
            until(lambda: self.query("SELECT state, sync_state FROM pg_stat_replication WHERE application_name = :n",
                                     n=standby), deadline_s, interval_s=0.02, ignore=(Exception,),
                  accept=lambda rows: rows and rows[0][0] == "streaming" and rows[0][1] == "sync")
        except DeadlineExceeded as timeout:
            raise PostgresTimeout(f"node {standby} did not become {self.name}'s synchronous standby within "
                                  f"{deadline_s:.1f} s (last: {timeout.last})") from None

    def wait_streaming(self, deadline_s: float) -> None:
        """Wait until this standby's walreceiver streams from its upstream."""
        try:
            until(lambda: self.query("SELECT status FROM pg_stat_wal_receiver") == [["streaming"]], deadline_s,
                  interval_s=0.02, ignore=(Exception,))
        except DeadlineExceeded:
            raise PostgresTimeout(f"node {self.name} was not streaming from its upstream within {deadline_s:.1f} s; "
                                  f"its log:\n{self.log_tail()}") from None

    def promote(self, deadline_s: float = 30.0) -> float:
        """Promote this standby and wait until it accepts writes; returns seconds taken.

        The promote signal file plus SIGUSR1 is exactly what `pg_ctl promote` does, minus a process
        start; then we poll ourselves at POLL_S.
        """
        pid = self.pid
        if pid is None:
            raise PostgresError(f"node {self.name} is not running; only a running standby can be promoted")
        started = time.monotonic()
        runner.write_postgres_file(self.data_dir / "promote", "")
        os.kill(pid, signal.SIGUSR1)
        try:
            until(self._writable, max(0.0, deadline_s - (time.monotonic() - started)), interval_s=POLL_S)
        except DeadlineExceeded:
            raise PostgresTimeout(f"node {self.name} did not accept writes within {deadline_s:.1f} s of promotion; "
                                  f"its log:\n{self.log_tail()}") from None
        return time.monotonic() - started

    def _writable(self) -> bool:
        if self.pid is None:
            raise PostgresError(f"node {self.name} exited while being promoted; its log:\n{self.log_tail()}")
        if self._pm_status() != "ready":
            return False
        try:
            return not self.in_recovery()
        except Exception:  # noqa: BLE001 - not accepting connections yet
            return False

    def replica_lag_s(self) -> float:
        """RDS's ReplicaLag: seconds the replica's replay trails; -1 when it is not streaming."""
        rows = self.query(
            "SELECT (SELECT status FROM pg_stat_wal_receiver), "
            "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), "
            "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8")
        status, caught_up, behind_s = rows[0]
        if status != "streaming":
            return -1.0
        if caught_up or behind_s is None:
            return 0.0
        return max(0.0, float(behind_s))

    def now(self) -> datetime:
        """The server's clock (timestamptz)."""
        now: datetime = self.query("SELECT clock_timestamp()")[0][0]  # pg8000 maps timestamptz to datetime
        return now

    # ----- configuration files -------------------------------------------------------------
    def _auto_conf(self) -> dict[str, str]:
        """The settings postgresql.auto.conf holds, as written (values still quoted)."""
        try:
            lines = (self.data_dir / "postgresql.auto.conf").read_text().splitlines()
        except FileNotFoundError:
            return {}
        pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
        return {key.strip(): value.strip() for key, value in pairs}

    def set_auto_conf(self, values: dict[str, str | None]) -> bool:
        """Set (or with None remove) settings in postgresql.auto.conf, keeping the rest; whether anything changed.

        The file is read on the next reload or start; an unchanged file is not written."""
        settings = self._auto_conf()
        updated = {key: value for key, value in settings.items() if key not in values}
        updated.update((key, value) for key, value in values.items() if value is not None)
        if updated == settings:
            return False
        lines = ["# Do not edit this file manually!", "# It will be overwritten by the ALTER SYSTEM command."]
        lines += [f"{key} = {value}" for key, value in updated.items()]
        runner.write_postgres_file(self.data_dir / "postgresql.auto.conf", "\n".join(lines) + "\n")
        return True

    def reload(self) -> None:
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGHUP)


def _checkpoint(conninfo: str, node: str) -> None:
    """CHECKPOINT on a rewind's source, as the replication role, through the same libpq string as pg_rewind.

    Its connect_timeout (2 s) bounds the connection: a source in a cut-off AZ fails fast instead of holding
    the database's lock for a whole statement timeout (30 s a try, which delayed the standby's rebuild and
    the replicas' repointing long after the AZ was back). The CHECKPOINT itself may take up to 30 s."""
    try:
        runner.run([runner.binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", "CHECKPOINT"],
                   CHECKPOINT_TIMEOUT_S, what=f"CHECKPOINT on the source of node {node}")
    except PostgresError as error:
        raise CheckpointFailed(str(error)) from None
