"""A real PostgreSQL server for the checkout tests: Debian's PostgreSQL 15, run as `postgres` on a 127.x address."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pg8000.native

from base.deadline import holds_within

PG_BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"
PASSWORD = "checkout-test-secret"
PORT = 5432


def available() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    if not (PG_BIN / "postgres").exists():
        return f"PostgreSQL 15 is not installed at {PG_BIN}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no `postgres` user to run PostgreSQL as"
    if os.geteuid() != 0:
        return "running PostgreSQL as `postgres` needs root"
    return None


def free_address(first: str) -> str:
    """The first address from ``first`` upward (last octet) where PORT can be bound."""
    a, b, c, d = (int(x) for x in first.split("."))
    for last in range(d, 255):
        address = f"{a}.{b}.{c}.{last}"
        with socket.socket() as probe:
            try:
                probe.bind((address, PORT))
                return address
            except OSError:
                continue
    raise RuntimeError(f"no free {a}.{b}.{c}.x address for port {PORT}")


def _as_postgres(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, user="postgres", group="postgres", extra_groups=[], check=True,
                          capture_output=True, **kwargs)  # type: ignore[call-overload]


class Cluster:
    """An initdb'd data directory used as the template for servers (initdb once, copy per server)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gameday-ec2-test-pg-"))
        os.chown(self.root, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        self.template = self.root / "template"
        password_file = self.root / "pw"
        password_file.write_text(PASSWORD)
        os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.template), "-U", USER, "--auth=scram-sha-256",
                      f"--pwfile={password_file}", "--no-sync", "-E", "UTF8"])
        password_file.unlink()
        # initdb trusts only 127.0.0.1; clients bind their instance's private 127.x address.
        with open(self.template / "pg_hba.conf", "a") as hba:
            hba.write("host all all 127.0.0.0/8 scram-sha-256\n")
        self.count = 0

    def server(self, address: str, extra: dict[str, str] | None = None) -> "Server":
        self.count += 1
        data = self.root / f"node{self.count}"
        _as_postgres(["cp", "-a", str(self.template), str(data)])
        return Server(data, address, extra or {})

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """One postgres process (not daemonised: its pid is ours to stop)."""

    def __init__(self, data: Path, address: str, extra: dict[str, str]) -> None:
        self.data = data
        self.address = address
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        settings = {"listen_addresses": self.address, "port": str(PORT), "unix_socket_directories": str(self.data),
                    "fsync": "off", "max_connections": "40", **self.extra}
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log = open(self.data / "server.log", "ab")
        self.process = subprocess.Popen(argv, user="postgres", group="postgres", extra_groups=[],
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        if not holds_within(self._accepting, timeout_s, 0.02):
            raise RuntimeError(f"postgres on {self.address} did not accept connections within {timeout_s} s")

    def _accepting(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"postgres on {self.address} exited: {(self.data / 'server.log').read_text()[-2000:]}")
        try:
            self.connect().close()
            return True
        except Exception:
            return False

    def connect(self) -> pg8000.native.Connection:
        return pg8000.native.Connection(USER, host=self.address, port=PORT, password=PASSWORD, timeout=5,
                                        ssl_context=False)

    def query(self, sql: str, **params: object) -> list[list[object]]:
        connection = self.connect()
        try:
            return connection.run(sql, **params)
        finally:
            connection.close()

    def stop(self, mode: int = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one (like a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(mode)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
