"""``StoresPart``: each Outpost's store runs its point of sale at the store; the cloud runs the sales ledger.

Addresses (environments/outposts.py): a store's POS answers on its site's 10th address, so it sits
at the site in the fabric: tills at the store reach it locally, and the sales it syncs reach the
ledger (in the Outposts' parent Region) only over the store's links, its Outpost's service link.
Each is a process of its own (``stack.local.stores.__main__``), forked by the stack's zygote
(stack.local.zygote), which has imported it once, so the three share its memory. Each serves HTTP on a
Unix socket the fabric exposes and is registered with the fabric as its address's process. A process
that dies is reported by ``health()`` (degraded), not hidden.
"""
from __future__ import annotations

import http.client
import ipaddress
import logging
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

from base.deadline import DeadlineExceeded, until
from base.errors import StackError
from environments.outposts import LEDGER_PORT, POS_PORT, ledger_region, pos_address
from stack.local import process as executor
from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.services import Network
from stack.local.zygote.client import Zygote, shared_or_own

READY_TIMEOUT_S = 15.0
STORES_MAIN = "stack.local.stores.__main__:main"
# A sync request waits this long (wall) for the ledger before the POS backs off and retries.
SYNC_TIMEOUT_S = 5.0
# The stock each store starts a stack with.
STOCK = {"coffee": 100000, "bagel": 100000, "juice": 100000}


@dataclass
class _Service:
    name: str
    address: str
    port: int
    uds: Path
    popen: executor.Child


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=1.0)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.path))


def _health(uds: Path) -> int:
    connection = _UnixConnection(uds)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


class StoresPart:
    name: ClassVar[str] = "stores"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = (Network,)

    def __init__(self) -> None:
        self.context: PartContext | None = None
        self.log = logging.getLogger("gameday.stores")
        self.services: list[_Service] = []
        self._network: Network | None = None
        self._zygote: Zygote | None = None
        self._own_zygote: Zygote | None = None  # when the context brings none (a part run outside a supervisor)

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """The zygote exits with its parent (it watches it), and the services with the zygote."""
        return []

    def start(self, context: PartContext) -> None:
        """Start the ledger, then each store's POS. Raises StackError (with the log's tail) when one does not serve."""
        self.context, self.log = context, context.log
        env = context.environment
        region = ledger_region(env.outposts)
        if region is None:
            return  # no Outposts, no stores
        directory = context.state_dir / self.name
        directory.mkdir(parents=True, exist_ok=True)
        self._network = context.require(Network)
        log_dir = context.log_dir or directory
        log_dir.mkdir(parents=True, exist_ok=True)
        self._zygote, self._own_zygote = shared_or_own(context.zygote, directory, log_dir, "stores zygote", self.log)
        try:
            ledger = self._ledger_address(context, region, env.outposts)
            self._run("ledger", ledger, LEDGER_PORT, ["ledger"], directory)
            for name, outpost in env.outposts.items():
                address = pos_address(env.sites[outpost.site])
                stock = [f"--stock={sku}={count}" for sku, count in STOCK.items()]
                self._run(f"pos-{name}", address, POS_PORT,
                          ["pos", "--store", name, "--ledger", f"{ledger}:{LEDGER_PORT}", "--source-address", address,
                           "--timeout-s", f"{SYNC_TIMEOUT_S:g}", *stock], directory)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _ledger_address(context: PartContext, region: str, outposts: Mapping[str, Any]) -> str:
        """The 250th address of the Region's default subnet in the first Outpost's AZ: a VPC address that
        exists from start-up (the reference stack's own VPC comes later, with the build)."""
        zone = next(o.availability_zone for o in outposts.values() if o.region == region)
        found = context.client("ec2", region).describe_subnets(Filters=[
            {"Name": "default-for-az", "Values": ["true"]}, {"Name": "availability-zone", "Values": [zone]}])["Subnets"]
        if not found:
            raise StackError(f"stores: {region} has no default subnet in {zone} to run the sales ledger in")
        return str(ipaddress.IPv4Network(found[0]["CidrBlock"]).network_address + 250)

    def _run(self, name: str, address: str, port: int, args: list[str], directory: Path) -> None:
        assert self.context is not None and self._network is not None and self._zygote is not None
        uds = directory / f"{name}.sock"
        log = (self.context.log_dir or directory) / f"{name}.log"
        popen = self._zygote.spawn([*args, "--uds", str(uds), "--data", str(directory / f"{name}.jsonl")],
                                   executor.child_environment(), executor.REPO_ROOT, log, main=STORES_MAIN)
        service = _Service(name, address, port, uds, popen)
        self.services.append(service)

        def serving() -> bool:
            if popen.poll() is not None:
                raise StackError(f"stores: {name} exited with code {popen.returncode} while starting; log {log}:\n"
                                 f"{executor.tail(log)}")
            try:
                return uds.exists() and _health(uds) == 200
            except OSError:
                return False

        try:
            until(serving, READY_TIMEOUT_S, interval_s=0.05)
        except DeadlineExceeded:
            raise StackError(f"stores: {name} was not serving on {uds} within {READY_TIMEOUT_S:g} s; log {log}:\n"
                             f"{executor.tail(log)}") from None
        self._network.register_process(address, popen.pid)
        self._network.expose(address, port, f"unix:{uds}")
        self.log.info("%s serves on %s:%d", name, address, port)

    def stop(self) -> None:
        for service in reversed(self.services):
            if self._network is not None:
                try:
                    self._network.unexpose(service.address, service.port)
                except Exception:  # noqa: BLE001 - the fabric may be gone already; the process still stops
                    pass
            service.popen.send_signal(signal.SIGTERM)  # all at once: each takes up to its serve loop's poll to leave
        for service in reversed(self.services):
            executor.stop(service.popen, 3.0, ask=lambda: None)  # asked above; SIGKILL after 3 s
            service.uds.unlink(missing_ok=True)
        self.services.clear()
        if self._own_zygote is not None:  # after its children: any still running would leave with it
            self._own_zygote.stop(3.0)
        self._zygote = self._own_zygote = None

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        return None

    def health(self) -> Health:
        return Health.of(f"{s.name} on {s.address}:{s.port} exited with code {s.popen.returncode}"
                         for s in self.services if s.popen.poll() is not None)

    def status(self) -> Mapping[str, Any]:
        return {s.name: f"{s.address}:{s.port}" for s in self.services}
