"""What one test (or one module) runs: PostgreSQL servers, nameservers and checkout processes, all cleaned up."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from stack.local.ec2.process import CheckoutProcess, DatabaseTarget, Launch, checkout_zygote

from . import postgres
from .nameserver import Nameserver

ENDPOINT = "orders.test-cluster.us-east-1.rds.amazonaws.com"


class Rig(contextlib.ExitStack):
    def __init__(self, cluster: postgres.Cluster, address_base: str) -> None:
        super().__init__()
        self.cluster = cluster
        self.address_base = address_base
        # Not pytest's tmp_path: a Unix socket path must stay under 108 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="gd-ec2-"))
        self.callback(shutil.rmtree, self.workdir, ignore_errors=True)
        # Checkouts are forked as the EC2 part forks them; the zygote is stopped after them (LIFO).
        self.zygote = checkout_zygote(self.workdir / "z.sock", self.workdir / "z.log")
        self.callback(self.zygote.stop)
        self.servers: list[postgres.Server] = []
        self.processes: list[CheckoutProcess] = []

    def start_database(self, **extra: str) -> postgres.Server:
        address = postgres.free_address(f"{self.address_base}.{10 + len(self.servers)}")
        server = self.cluster.server(address, extra)
        self.servers.append(server)
        self.callback(shutil.rmtree, server.data, ignore_errors=True)
        self.callback(server.stop)
        server.start()
        return server

    def nameserver(self, address: str, ttl_s: int = 1) -> Nameserver:
        return self.enter_context(Nameserver(f"{self.address_base}.1", ENDPOINT, address, ttl_s=ttl_s))

    def start_checkout(self, nameserver: Nameserver, with_database: bool = True,
                       password: str = postgres.PASSWORD, otlp_endpoint: str | None = None) -> CheckoutProcess:
        number = len(self.processes) + 1
        password_file = self.workdir / f"pw{number}"
        password_file.write_text(password)
        password_file.chmod(0o600)
        target = DatabaseTarget(ENDPOINT, postgres.PORT, "postgres", postgres.USER, password_file)
        launch = Launch(
            instance_id=f"i-{number:017x}", region="us-east-1", availability_zone="us-east-1a",
            private_ip=f"{self.address_base}.{100 + number}", uds=self.workdir / f"c{number}.sock",
            log=self.workdir / f"c{number}.log", dns_host=nameserver.host, dns_port=nameserver.port,
            database=target if with_database else None, otlp_endpoint=otlp_endpoint,
        )
        process = CheckoutProcess(launch, self.zygote)
        self.processes.append(process)
        self.callback(process.stop)
        process.start()
        process.wait_ready()
        return process
