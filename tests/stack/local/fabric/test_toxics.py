"""Toxics on a node's links: latency on what it sends, blackholed ports, and removal that forwards what was held."""
from __future__ import annotations

import socket
import statistics
import time

import pytest

from stack.local.fabric.client import FabricClient
from stack.local.fabric.connect import create_connection
from stack.local.fabric.errors import FabricCommandError

from .conftest import EchoServer, Net
from .test_fabric import assert_silent, exchange, expose

DELAY_MS = 40.0


def round_trip_ms(sock: socket.socket, rounds: int = 15) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        exchange(sock, b"ping")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def test_a_latency_toxic_delays_what_the_node_sends_on_open_and_new_connections(fabric: FabricClient, net: Net,
                                                                               echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        before = round_trip_ms(sock)
        fabric.request("set_toxics", toxics=[{"address": server[0], "kind": "latency", "delay_ms": DELAY_MS}])
        during = round_trip_ms(sock)
        with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as fresh:
            assert round_trip_ms(fresh) >= DELAY_MS
        fabric.request("set_toxics", toxics=[])
        after = round_trip_ms(sock)
    # The server's answers wait DELAY_MS more: the round trip grows by it once, not twice.
    assert DELAY_MS <= during - before < 2 * DELAY_MS
    assert after < DELAY_MS


def test_a_blackholed_port_stalls_new_connections_and_releases_them_on_removal(fabric: FabricClient, net: Net,
                                                                              echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    fabric.request("set_toxics", toxics=[{"address": server[0], "kind": "blackhole", "port": server[1],
                                          "direction": "ingress"}])
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        sock.sendall(b"anyone?")
        assert_silent(sock)
        assert echo.accepted == 0, "a blackholed SYN never reaches the server"
        fabric.request("set_toxics", toxics=[])
        sock.settimeout(5)
        assert sock.recv(7) == b"anyone?"  # what the blackhole held is forwarded, not dropped


@pytest.mark.parametrize("toxic", [{"kind": "jitter"}, {"kind": "blackhole"}, {"kind": "loss", "loss_percent": 101},
                                   {"kind": "latency", "delay_ms": -1}])
def test_a_bad_toxic_is_refused_naming_it(fabric: FabricClient, net: Net, toxic: dict) -> None:
    with pytest.raises(FabricCommandError, match="set_toxics"):
        fabric.request("set_toxics", toxics=[{"address": net.host("us-east-1a"), **toxic}])
