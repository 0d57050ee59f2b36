"""The kernel path (root + nftables): a denied new flow's handshake is dropped, so connect() times out."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from stack.local.fabric import firewall
from stack.local.fabric.client import FabricClient
from stack.local.fabric.connect import create_connection
from stack.local.fabric.process import FabricProcess

from .conftest import EchoServer, Net, nacls, rule
from .test_fabric import assert_silent, exchange

pytestmark = pytest.mark.skipif(firewall.available() is not None, reason=str(firewall.available()))

# How long connect() waits before we call it a timeout: the kernel retries a dropped SYN after 1 s.
CONNECT_TIMEOUT_S = 0.5


@pytest.fixture
def table() -> str:
    return f"gdfab_test_{os.getpid()}"


@pytest.fixture
def kernel_fabric(short_dir: Path, net: Net, table: str) -> Iterator[FabricClient]:
    process = FabricProcess(short_dir / "fabric", kernel_drop=table)
    client = process.start()
    try:
        client.set_topology(net.topology())
        assert client.stats()["kernel_drop"] is True
        yield client
    finally:
        process.stop()


def connect_times_out(server: tuple[str, int], source: str) -> None:
    with pytest.raises((socket.timeout, TimeoutError)):
        create_connection(server, source_address=source, timeout_s=CONNECT_TIMEOUT_S).close()


def test_denied_destination_times_out_at_connect(kernel_fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    address = net.host("us-east-1a")
    server = (address, kernel_fabric.expose(address, 0, echo.backend))
    kernel_fabric.set_nacls(nacls(net, {"us-east-1a": []}))
    connect_times_out(server, net.host("us-east-1b"))
    connect_times_out(server, net.vantage("virginia"))
    assert echo.accepted == 0
    reasons = {d["reason"] for d in kernel_fabric.stats()["kernel_drops"]}
    assert reasons == {"acl-us-east-1a (subnet-us-east-1a) inbound rule *"}
    with create_connection(server, source_address=net.host("us-east-1a", 20), timeout_s=5) as neighbour:
        assert exchange(neighbour, b"same subnet") == b"same subnet"
    kernel_fabric.set_nacls(nacls(net))
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as restored:
        assert exchange(restored, b"back") == b"back"


def test_denied_reply_direction_drops_the_syn_ack(kernel_fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    address = net.host("us-east-1a")
    server = (address, kernel_fabric.expose(address, 0, echo.backend))
    client_cidr = str(net.subnets["us-east-1b"].network)
    # The server's subnet may receive from 1b but not answer it: the SYN-ACK is what is dropped.
    kernel_fabric.set_nacls(nacls(net, {"us-east-1a": [rule(10, "deny", True, cidr=client_cidr),
                                                       rule(100, "allow", True), rule(100, "allow", False)]}))
    connect_times_out(server, net.host("us-east-1b"))
    with create_connection(server, source_address=net.host("us-west-2a"), timeout_s=5) as other:
        assert exchange(other, b"other") == b"other"


def test_port_rules_are_compiled_with_their_range(kernel_fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    address = net.host("us-east-1a")
    cut = (address, kernel_fabric.expose(address, 0, echo.backend))
    kept = (address, kernel_fabric.expose(address, 0, echo.backend))
    kernel_fabric.set_nacls(nacls(net, {"us-east-1a": [rule(10, "deny", False, protocol="6", ports=(cut[1], cut[1])),
                                                       rule(100, "allow", False), rule(100, "allow", True)]}))
    connect_times_out(cut, net.host("us-east-1b"))
    with create_connection(kept, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        assert exchange(sock, b"kept") == b"kept"


def test_unbound_client_is_left_to_the_userspace_path(kernel_fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    address = net.host("us-east-1a")
    server = (address, kernel_fabric.expose(address, 0, echo.backend))
    kernel_fabric.set_nacls(nacls(net, {"us-east-1a": []}))
    # 127.0.0.1 could be any node (libpq cannot bind): the kernel lets the handshake through, the
    # fabric identifies the process after accept (here: nobody registered, so the host) and stalls it.
    with socket.create_connection(server, timeout=5) as sock:
        sock.sendall(b"from the host")
        assert_silent(sock)


def test_stop_removes_the_table(short_dir: Path, net: Net, table: str) -> None:
    process = FabricProcess(short_dir / "stopping", kernel_drop=table + "_stop")
    process.start()
    listed = subprocess.run(["nft", "list", "table", "ip", table + "_stop"], capture_output=True)
    assert listed.returncode == 0
    process.stop()
    listed = subprocess.run(["nft", "list", "table", "ip", table + "_stop"], capture_output=True)
    assert listed.returncode != 0, "the fabric's nftables table outlived it"
