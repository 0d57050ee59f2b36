"""Who owns the client end of a connection: /proc lookups, and the fabric using them for unbound clients."""
from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from stack.local.fabric.client import FabricClient
from stack.local.fabric.owner import OwnerRegistry, socket_inode

from .conftest import EchoServer, Net, nacls, wait_for

NODE = ipaddress.IPv4Address("127.16.9.10")


@pytest.fixture
def server() -> Iterator[socket.socket]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener
    finally:
        listener.close()


@pytest.mark.parametrize("proc", [Path("/proc"), Path("/proc/self/..")], ids=["sock_diag", "proc-net-tcp"])
def test_socket_inode_finds_the_client_end(server: socket.socket, proc: Path) -> None:
    # /proc itself is asked by sock_diag; any other path (here the same directory by another name) by its
    # net/tcp table.
    client = socket.create_connection(server.getsockname())
    accepted, peer = server.accept()
    try:
        inode = socket_inode(peer, server.getsockname(), proc)
        assert inode == os.fstat(client.fileno()).st_ino
        assert socket_inode(server.getsockname(), peer, proc) == os.fstat(accepted.fileno()).st_ino
        assert socket_inode(("127.0.0.1", 1), server.getsockname(), proc) is None
        assert socket_inode(peer, ("127.0.0.1", 1), proc) is None
    finally:
        client.close()
        accepted.close()


def test_registered_process_owns_its_socket(server: socket.socket) -> None:
    registry = OwnerRegistry()
    registry.register(NODE, os.getpid())
    client = socket.create_connection(server.getsockname())
    accepted, peer = server.accept()
    try:
        assert registry.owner(peer, server.getsockname()) == (NODE, os.getpid())
    finally:
        client.close()
        accepted.close()


# A child that connects without binding (as libpq does), says which port it got, and waits.
CONNECTOR = textwrap.dedent("""
    import socket, sys
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    print(sock.getsockname()[1], flush=True)
    sys.stdin.read()
""")


def spawn_connector(host: str, port: int, via_shell: bool) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", CONNECTOR, host, str(port)]
    if via_shell:
        # The connecting process is a grandchild of the registered one, like a walreceiver of a postmaster.
        command = ["sh", "-c", 'exec 3<&0; "$@" <&3; true', "sh", *command]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()
    process.wait(10)
    process.stdout.close()


def test_descendants_of_a_registered_process_belong_to_its_node(server: socket.socket) -> None:
    connector = spawn_connector(*server.getsockname(), via_shell=True)
    try:
        accepted, peer = server.accept()
        registry = OwnerRegistry()
        registry.register(NODE, connector.pid)  # the shell; the connecting python is its child
        owner = registry.owner(peer, server.getsockname())
        assert owner is not None and owner[0] == NODE and owner[1] != connector.pid
        assert OwnerRegistry().owner(peer, server.getsockname()) is None, "an empty registry identified a process"
        accepted.close()
    finally:
        finish(connector)


def test_fabric_places_an_unbound_client_in_its_registered_nodes_subnet(fabric: FabricClient, net: Net,
                                                                          echo: EchoServer) -> None:
    address = net.host("us-east-1a")
    port = fabric.expose(address, 0, echo.backend)
    node = net.host("us-west-2a")
    connector = spawn_connector(address, port, via_shell=True)
    try:
        fabric.register_process(node, connector.pid)
        assert connector.stdout is not None
        connector.stdout.readline()
        subnet = net.subnet_id("us-west-2a")
        link = wait_for(lambda: [link for link in fabric.stats()["links"] if link["source"] == subnet],
                        "the connection to be counted from the registered node's subnet")
        assert link[0]["destination"] == net.subnet_id("us-east-1a")
        # Cutting the node's subnet now stalls it, and leaves an unregistered 127.0.0.1 client alone.
        fabric.set_nacls(nacls(net, {"us-west-2a": []}))
        assert fabric.stats()["open_flows"] == 1 and link_stalled(fabric, subnet)
        with socket.create_connection((address, port), timeout=5) as host_client:
            host_client.sendall(b"host")
            assert host_client.recv(4) == b"host"
    finally:
        finish(connector)


def link_stalled(fabric: FabricClient, source: str) -> bool:
    return any(link["source"] == source and link["stalled"] == 1 for link in fabric.stats()["links"])
