"""Fixtures for the fabric's tests: a fabric process per test, per-worker addresses, an echo backend."""
from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from base.deadline import until
from environments.loader import load
from environments.model import LocalEnvironment
from stack.local.fabric.client import FabricClient
from stack.local.fabric.part import external_sources
from stack.local.fabric.process import FabricProcess
from stack.local.fabric.topology import Subnet, Topology
from stack.local.instance import Instance

from tests.conftest import worker_index

from .echo import EchoServer


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 5.0, interval_s: float = 0.01) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout_s``."""
    return until(condition, timeout_s, what, interval_s)


@dataclass(frozen=True)
class Net:
    """The addresses one test process uses: an instance's resolved environment (xdist worker k -> instance 1+k)."""

    instance: Instance
    environment: LocalEnvironment
    subnets: dict[str, Subnet]  # by AZ name

    def host(self, az: str, number: int = 10) -> str:
        return str(self.subnets[az].network[number])

    def vantage(self, name: str, number: int = 10) -> str:
        return str(self.environment.vantage_points[name].network[number])

    def topology(self) -> Topology:
        return Topology(tuple(self.subnets.values()), external_sources(self.environment, self.instance),
                        self.environment.region_rtt_ms)

    def subnet_id(self, az: str) -> str:
        return self.subnets[az].subnet_id


@pytest.fixture(scope="session")
def net() -> Net:
    instance = Instance(1 + worker_index(), load("local"))  # type: ignore[arg-type]
    env = instance.resolved()
    subnets = {
        az: Subnet(f"subnet-{az}", zone.network, region, az)
        for region, spec in env.regions.items() for az, zone in spec.availability_zones.items()
    }
    return Net(instance, env, subnets)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temporary directory: Unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="fab-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fabric_process(short_dir: Path, net: Net) -> Iterator[FabricProcess]:
    process = FabricProcess(short_dir / "fabric")
    process.start()
    try:
        process.client.set_topology(net.topology())
        yield process
    finally:
        process.stop()


@pytest.fixture
def fabric(fabric_process: FabricProcess) -> FabricClient:
    return fabric_process.client


@pytest.fixture
def echo(short_dir: Path) -> Iterator[EchoServer]:
    server = EchoServer(short_dir / "echo.sock")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def echo_process(short_dir: Path) -> Iterator[str]:
    """An echo backend in a process of its own (for timing: no GIL shared with the test); yields its backend."""
    path = short_dir / "echo-process.sock"
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("echo.py")), str(path)],
                               stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n", "the echo process did not start"
        yield f"unix:{path}"
    finally:
        process.kill()
        process.wait()
        for pipe in (process.stdout, process.stdin):
            if pipe is not None:
                pipe.close()


def nacl(acl_id: str, subnet_ids: list[str], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One item of DescribeNetworkAcls' NetworkAcls list."""
    return {"NetworkAclId": acl_id, "Entries": entries,
            "Associations": [{"NetworkAclAssociationId": f"aclassoc-{s}", "NetworkAclId": acl_id, "SubnetId": s}
                             for s in subnet_ids]}


def rule(number: int, action: str, egress: bool, cidr: str = "0.0.0.0/0", protocol: str = "-1",
         ports: tuple[int, int] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"RuleNumber": number, "Protocol": protocol, "RuleAction": action, "Egress": egress,
                            "CidrBlock": cidr}
    if ports is not None:
        item["PortRange"] = {"From": ports[0], "To": ports[1]}
    return item


DEFAULT_ENTRIES = [rule(100, "allow", True), rule(32767, "deny", True), rule(100, "allow", False),
                   rule(32767, "deny", False)]


def nacls(net: Net, custom: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    """Every subnet on the default NACL, except the AZs in ``custom``, each with its own NACL of those entries."""
    custom = custom or {}
    default = [net.subnet_id(az) for az in net.subnets if az not in custom]
    return [nacl("acl-default", default, DEFAULT_ENTRIES)] + [
        nacl(f"acl-{az}", [net.subnet_id(az)], entries) for az, entries in custom.items()
    ]


def ip(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)
