"""Real PostgreSQL streaming replication through the fabric, cut and restored by NACLs.

Primary and standby listen only on Unix sockets; the fabric exposes each on a private address in
its own subnet. The standby's walreceiver (libpq, so it connects from 127.0.0.1) is known to come
from the standby's subnet only because the fabric asks the kernel which registered process owns
the socket. The test reads both nodes through their Unix sockets, beside the network, as an
operator would.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pg8000.native
import pytest

from base.deadline import Deadline
from stack.local.fabric.client import FabricClient
from stack.local.fabric.process import FabricProcess

from .conftest import Net, nacls, rule, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# The window in which a cut must hold: nothing replicates during it.
SILENCE_S = 1.0


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


pytestmark = [
    pytest.mark.rds,
    pytest.mark.skipif(not (PG_BIN / "postgres").exists(), reason=f"PostgreSQL 15 is not installed at {PG_BIN}"),
    pytest.mark.skipif(_postgres_user() is None, reason="there is no postgres user to run PostgreSQL as"),
    pytest.mark.skipif(os.geteuid() != 0, reason="running PostgreSQL as the postgres user needs root"),
]


def as_postgres(*command: str | Path) -> None:
    subprocess.run([str(c) for c in command], user="postgres", group="postgres", extra_groups=[], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


class Node:
    """One PostgreSQL server run as postgres, listening only on its own Unix socket directory."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.data = root / name / "data"
        self.sockets = root / name / "sock"
        self.log = root / name / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        for directory in (root / name, self.sockets):
            directory.mkdir()
            shutil.chown(directory, "postgres", "postgres")

    @property
    def backend(self) -> str:
        return f"unix:{self.sockets}/.s.PGSQL.5432"

    def start(self, *settings: str) -> int:
        command = [str(PG_BIN / "postgres"), "-D", str(self.data), "-c", "listen_addresses=",
                   "-c", f"unix_socket_directories={self.sockets}", "-c", "port=5432",
                   "-c", f"cluster_name={self.name}", "-c", "fsync=off"]
        for setting in settings:
            command += ["-c", setting]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, user="postgres", group="postgres", extra_groups=[],
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_for(self._ready, f"{self.name} to accept connections (log {self.log})", timeout_s=30, interval_s=0.05)
        return self.process.pid

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
        try:
            self.sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def sql(self, query: str, **params: Any) -> list[list[Any]]:
        connection = pg8000.native.Connection("postgres", unix_sock=f"{self.sockets}/.s.PGSQL.5432",
                                              database="postgres", timeout=5)
        try:
            return connection.run(query, **params)
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: smart shutdown; the walsender is told, the data is fine
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Cluster:
    def __init__(self, fabric: FabricClient, net: Net, primary: Node, standby: Node,
                 primary_address: tuple[str, int]) -> None:
        self.fabric, self.net, self.primary, self.standby = fabric, net, primary, standby
        self.primary_address = primary_address
        self.rows = 0

    def insert(self) -> int:
        self.rows += 1
        self.primary.sql("INSERT INTO orders VALUES (:n)", n=self.rows)
        return self.rows

    def standby_rows(self) -> int:
        return int(self.standby.sql("SELECT count(*) FROM orders")[0][0])

    def replication(self) -> list[Any] | None:
        rows = self.primary.sql("SELECT state, reply_time FROM pg_stat_replication WHERE application_name = 'standby'")
        return rows[0] if rows else None

    def assert_replicating(self) -> None:
        expected = self.insert()
        wait_for(lambda: self.standby_rows() == expected, f"the standby to apply row {expected}", timeout_s=20)

    def assert_stays(self, condition: Any, what: str, window_s: float = SILENCE_S) -> None:
        """``condition`` holds throughout ``window_s`` (a cut is the absence of something: watched, not awaited)."""
        deadline = Deadline.after(window_s)
        while not deadline.expired:
            assert condition(), what
            deadline.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(net: Net) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="fab-pg-"))
    shutil.chown(root, "postgres", "postgres")
    process = FabricProcess(root / "fabric")
    primary, standby = Node(root, "primary"), Node(root, "standby")
    try:
        fabric = process.start()
        fabric.set_topology(net.topology())
        as_postgres(PG_BIN / "initdb", "-D", primary.data, "-U", "postgres", "-A", "trust", "--no-sync")
        primary_pid = primary.start("max_wal_senders=5", "wal_keep_size=64MB")
        primary_host = net.host("us-east-1a")
        primary_port = fabric.expose(primary_host, 0, primary.backend)
        fabric.register_process(primary_host, primary_pid)
        primary.sql("CREATE TABLE orders (n integer)")
        # pg_basebackup -R writes primary_conninfo with the primary's fabric address, as RDS would.
        as_postgres(PG_BIN / "pg_basebackup", "-d", f"host={primary_host} port={primary_port} user=postgres",
                    "-D", standby.data, "-R", "-X", "stream", "-c", "fast")
        standby_host = net.host("us-east-1b")
        # Status every second (default 10 s), so the test sees feedback stop and resume.
        standby_pid = standby.start("hot_standby=on", "wal_receiver_status_interval=1s")
        fabric.register_process(standby_host, standby_pid)
        fabric.expose(standby_host, 0, standby.backend)
        yield Cluster(fabric, net, primary, standby, (primary_host, primary_port))
    finally:
        standby.stop()
        primary.stop()
        process.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def healthy(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster replicating on default NACLs, before and after the test."""
    cluster.fabric.set_nacls(nacls(cluster.net))
    wait_for(lambda: (cluster.replication() or [None])[0] == "streaming", "the standby to stream", timeout_s=20)
    cluster.assert_replicating()
    yield cluster
    cluster.fabric.set_nacls(nacls(cluster.net))


def replication_link(cluster: Cluster) -> dict[str, Any]:
    links = [link for link in cluster.fabric.stats()["links"]
             if link["destination"] == cluster.net.subnet_id("us-east-1a") and link["port"] == cluster.primary_address[1]]
    return {link["source"]: link for link in links}


def test_walreceiver_from_127_0_0_1_is_identified_as_the_standby_subnet(healthy: Cluster) -> None:
    links = replication_link(healthy)
    standby_subnet = healthy.net.subnet_id("us-east-1b")
    assert standby_subnet in links, f"no link from the standby's subnet; links: {list(links)}"
    assert links[standby_subnet]["bytes_downstream"] > 0, "WAL did not flow to the standby through its link"
    # pg_basebackup was not registered: it is the host itself, outside every subnet.
    assert "outside" in links


def test_cutting_the_standby_subnet_stops_replication_and_restoring_resumes_it(healthy: Cluster) -> None:
    before = healthy.standby_rows()
    healthy.fabric.set_nacls(nacls(healthy.net, {"us-east-1b": []}))  # deny-all NACL on the standby's subnet
    written = healthy.insert()  # asynchronous replication: the primary commits without the standby
    healthy.assert_stays(lambda: healthy.standby_rows() == before, f"row {written} replicated across a cut subnet")
    assert healthy.replication() is not None, "the walsender was dropped: a cut must stall, not reset"
    link = replication_link(healthy)[healthy.net.subnet_id("us-east-1b")]
    assert link["stalled"] >= 1 and link["last_deny"]["acl_id"] == "acl-us-east-1b"
    healthy.fabric.set_nacls(nacls(healthy.net))
    wait_for(lambda: healthy.standby_rows() == written, f"the standby to catch up to row {written}", timeout_s=20)


def test_cutting_only_primary_to_standby_stops_wal(healthy: Cluster) -> None:
    standby_cidr = str(healthy.net.subnets["us-east-1b"].network)
    before = healthy.standby_rows()
    # The primary's subnet may not send to the standby's: WAL (primary -> standby) is cut, feedback is not.
    healthy.fabric.set_nacls(nacls(healthy.net, {"us-east-1a": [rule(10, "deny", True, cidr=standby_cidr),
                                                                rule(100, "allow", True), rule(100, "allow", False)]}))
    written = healthy.insert()
    healthy.assert_stays(lambda: healthy.standby_rows() == before, f"row {written} crossed a cut outbound rule")
    healthy.fabric.set_nacls(nacls(healthy.net))
    wait_for(lambda: healthy.standby_rows() == written, f"the standby to catch up to row {written}", timeout_s=20)


def test_cutting_only_standby_to_primary_stops_feedback(healthy: Cluster) -> None:
    standby_cidr = str(healthy.net.subnets["us-east-1b"].network)
    # The primary's subnet may not receive from the standby's: the standby's status replies are cut.
    healthy.fabric.set_nacls(nacls(healthy.net, {"us-east-1a": [rule(10, "deny", False, cidr=standby_cidr),
                                                                rule(100, "allow", False), rule(100, "allow", True)]}))
    time.sleep(0.2)  # let a reply that was already in the fabric's hands land
    frozen = healthy.replication()
    assert frozen is not None
    # More than two status intervals (wal_receiver_status_interval = 1 s) without a reply.
    healthy.assert_stays(lambda: healthy.replication() == frozen,
                         "the standby's replies reached the primary across a cut inbound rule", window_s=2.5)
    healthy.fabric.set_nacls(nacls(healthy.net))
    wait_for(lambda: (healthy.replication() or [None, None])[1] != frozen[1], "the standby's replies to resume",
             timeout_s=20)
    healthy.assert_replicating()
