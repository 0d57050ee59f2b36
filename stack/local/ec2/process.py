"""One checkout process: how it is launched, awaited, and stopped."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from base.deadline import DeadlineExceeded, until
from stack.local import process as executor
from stack.local.ec2 import unixhttp
from stack.local.ec2.errors import CheckoutStartError
from stack.local.part import LOCAL_CREDENTIALS
from stack.local.zygote.client import ForkError, Zygote

READY_POLL_S = 0.02


@dataclass(frozen=True)
class DatabaseTarget:
    """Where an instance's orders go: the RDS endpoint's name and how to log in."""

    endpoint: str
    port: int
    name: str
    user: str
    password_file: Path


@dataclass(frozen=True)
class CatalogTarget:
    """The catalog table an instance serves products from, the endpoint it reaches DynamoDB at, and the
    file holding the admin endpoint's token (None: no admin endpoint)."""

    table: str
    endpoint: str
    admin_token_file: Path | None = None


@dataclass(frozen=True)
class Launch:
    """Everything one checkout process is started with."""

    instance_id: str
    region: str
    availability_zone: str
    private_ip: str
    uds: Path
    log: Path
    dns_host: str
    dns_port: int
    database: DatabaseTarget | None = None
    metrics_endpoint: str | None = None  # the stack's AWS endpoint: checkout publishes its request latency there
    metrics_flush_s: float = 0.5
    otlp_endpoint: str | None = None  # where the process exports its spans; None: untraced
    catalog: CatalogTarget | None = None

    def args(self) -> list[str]:
        """The checkout's command-line options (what ``python -m stack.local.ec2.checkout`` is given)."""
        options = ["--uds", str(self.uds), "--instance-id", self.instance_id, "--region", self.region,
                   "--az", self.availability_zone, "--dns", f"{self.dns_host}:{self.dns_port}",
                   "--source-address", self.private_ip, "--exit-with-parent"]
        if self.otlp_endpoint is not None:
            options += ["--otlp-endpoint", self.otlp_endpoint]
        if self.database is not None:
            db = self.database
            options += ["--db-endpoint", db.endpoint, "--db-port", str(db.port), "--db-name", db.name,
                        "--db-user", db.user, "--db-password-file", str(db.password_file)]
        if self.metrics_endpoint is not None:
            options += ["--metrics-endpoint", self.metrics_endpoint, "--metrics-flush-s", f"{self.metrics_flush_s:g}"]
        if self.catalog is not None:
            options += ["--catalog-table", self.catalog.table, "--catalog-endpoint", self.catalog.endpoint]
            if self.catalog.admin_token_file is not None:
                options += ["--admin-token-file", str(self.catalog.admin_token_file)]
        return options


def environment() -> dict[str, str]:
    """A checkout's environment: the caller's, with the repository importable and the local endpoint's credentials."""
    env = executor.child_environment()
    # What the instance signs its DynamoDB calls with: the local endpoint's credentials, never the caller's.
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    return env | {"AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
                  "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]}


CHECKOUT_MAIN = "stack.local.ec2.checkout.server:main"
CHECKOUT_PRELOAD = ("stack.local.ec2.checkout.preload",)


def checkout_zygote(socket_path: Path, log: Path, logger: logging.Logger | None = None,
                    started: Callable[[int], None] | None = None) -> Zygote:
    """The zygote every checkout instance of a stack is forked from (one process that has imported checkout)."""
    return Zygote(socket_path, log, executor.REPO_ROOT, environment(), CHECKOUT_MAIN, CHECKOUT_PRELOAD, "checkout zygote",
                  logger or logging.getLogger("gameday.ec2.zygote"), started=started)


class CheckoutProcess:
    """One instance's checkout process, forked by the stack's checkout zygote."""

    def __init__(self, launch: Launch, zygote: Zygote) -> None:
        self.launch = launch
        self.zygote = zygote
        self._child: executor.Child | None = None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def start(self) -> None:
        """Spawn the process (it is serving once wait_ready returns)."""
        launch = self.launch
        launch.uds.unlink(missing_ok=True)
        try:
            self._child = self.zygote.spawn(launch.args(), environment(), executor.REPO_ROOT, launch.log)
        except ForkError as error:
            raise CheckoutStartError(str(error)) from None

    def alive(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def returncode(self) -> int | None:
        return self._child.poll() if self._child is not None else None

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        """Wait until GET /health answers 200 on the socket.

        Raises CheckoutStartError (with the log's tail) if the process exits or is not serving in time.
        """
        last = ["no answer yet"]

        def serving() -> bool:
            if not self.alive():
                raise CheckoutStartError(
                    f"checkout for {self.launch.instance_id} exited with code {self.returncode()} while starting; "
                    f"log {self.launch.log}:\n{executor.tail(self.launch.log)}")
            if not self.launch.uds.exists():
                return False
            try:
                status = unixhttp.call(self.launch.uds, "GET", "/health", timeout_s=1.0).status
            except OSError as error:
                last[0] = str(error)
                return False
            last[0] = f"GET /health answered {status}"
            return status == 200

        try:
            until(serving, timeout_s, interval_s=READY_POLL_S)
        except DeadlineExceeded:
            raise CheckoutStartError(f"checkout for {self.launch.instance_id} was not serving /health on "
                                     f"{self.launch.uds} within {timeout_s:g} s ({last[0]}); log {self.launch.log}:\n"
                                     f"{executor.tail(self.launch.log)}") from None

    def stop(self, grace_s: float = 3.0) -> int | None:
        """SIGTERM (uvicorn drains in-flight requests), then SIGKILL after ``grace_s``; remove the socket."""
        child = self._child
        if child is not None:
            executor.stop(child, grace_s, reap_s=grace_s)
        self.launch.uds.unlink(missing_ok=True)
        return child.returncode if child is not None else None

    def kill(self) -> None:
        """SIGKILL at once (what a crash looks like); for tests of crash handling."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait(executor.REAP_S)
