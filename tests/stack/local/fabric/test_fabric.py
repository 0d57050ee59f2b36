"""The fabric process end to end: forwarding, NACL enforcement, drop-not-reset, stalls, latency, cleanup."""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from stack.local.fabric.client import FabricClient
from stack.local.fabric.connect import create_connection
from stack.local.fabric.errors import FabricCommandError
from stack.local.fabric.process import FabricProcess

from .conftest import Net, nacls, rule, wait_for
from .echo import EchoServer

# How long a client waits for bytes that a cut network must not deliver. A dead network is
# "nothing arrives"; this is the window in which we check that nothing does.
SILENCE_S = 0.5


def expose(fabric: FabricClient, net: Net, az: str, echo: EchoServer | str) -> tuple[str, int]:
    address = net.host(az)
    return address, fabric.expose(address, 0, echo if isinstance(echo, str) else echo.backend)


def exchange(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(len(payload) - len(received))
        if not chunk:
            raise ConnectionError("closed by the fabric")
        received += chunk
    return received


def assert_silent(sock: socket.socket) -> None:
    """Nothing arrives within SILENCE_S, and the socket is neither reset nor closed: a read timeout."""
    sock.settimeout(SILENCE_S)
    with pytest.raises(socket.timeout):
        data = sock.recv(1)
        pytest.fail(f"a cut network delivered {data!r}")


def link(fabric: FabricClient, source: str, destination: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [link for link in fabric.stats()["links"]
                                     if link["source"] == source and link["destination"] == destination]
    assert len(matches) == 1, f"expected one link {source} -> {destination}, got {fabric.stats()['links']}"
    return matches[0]


def test_forwards_and_counts_per_link(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        assert exchange(sock, b"hello fabric") == b"hello fabric"
    counted = link(fabric, net.subnet_id("us-east-1b"), net.subnet_id("us-east-1a"))
    assert (counted["connections"], counted["bytes_upstream"], counted["bytes_downstream"]) == (1, 12, 12)
    assert counted["port"] == server[1]


def test_denied_new_connection_times_out_and_never_resets(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    fabric.set_nacls(nacls(net, {"us-east-1a": []}))  # a custom NACL with no rules: everything denied
    # The kernel completes the handshake (the fabric listens in userspace), so connect() succeeds;
    # after that the client sees exactly what a dead network gives: silence, then a read timeout.
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        sock.sendall(b"anyone there?")
        assert_silent(sock)
        assert_silent(sock)  # still not reset or closed after a second wait
    assert echo.accepted == 0, "the server must never see a connection whose SYN the NACL dropped"
    counted = link(fabric, net.subnet_id("us-east-1b"), net.subnet_id("us-east-1a"))
    assert counted["denied_connections"] == 1
    assert counted["last_deny"]["acl_id"] == "acl-us-east-1a"
    assert (counted["last_deny"]["direction"], counted["last_deny"]["rule"]) == ("inbound", "*")


def test_clients_that_give_up_on_a_cut_destination_leave_nothing(fabric: FabricClient, net: Net,
                                                                  echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    fabric.set_nacls(nacls(net, {"us-east-1a": []}))
    for _ in range(20):  # a client retrying, as a health checker does every interval
        with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
            sock.sendall(b"hello?")
    wait_for(lambda: sum(link["connections"] for link in fabric.stats()["links"]) == 20,
             "the fabric to accept the 20 connections")
    wait_for(lambda: fabric.stats()["open_flows"] == 0, "the fabric to forget flows whose client gave up",
             timeout_s=10)
    assert fabric.stats()["reaped_flows"] == 20
    assert echo.accepted == 0


def test_open_connection_stalls_on_cut_and_resumes_on_restore(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        assert exchange(sock, b"before") == b"before"
        fabric.set_nacls(nacls(net, {"us-east-1b": [rule(10, "deny", True)]}))
        sock.sendall(b"during the cut")
        assert_silent(sock)
        assert echo.received == len(b"before"), "bytes crossed a cut network"
        assert link(fabric, net.subnet_id("us-east-1b"), net.subnet_id("us-east-1a"))["stalled"] == 1
        fabric.set_nacls(nacls(net))
        sock.settimeout(5)
        # The held bytes were neither dropped nor reordered: they arrive first, then new traffic flows.
        held = b""
        while len(held) < len(b"during the cut"):
            held += sock.recv(64)
        assert held == b"during the cut"
        assert exchange(sock, b"after") == b"after"
    counted = link(fabric, net.subnet_id("us-east-1b"), net.subnet_id("us-east-1a"))
    assert counted["stalls"] == 1
    assert (counted["last_deny"]["acl_id"], counted["last_deny"]["rule"]) == ("acl-us-east-1b", "10")


# (what is cut, entries of that AZ's NACL, does the server receive the client's bytes)
CUTS = [
    ("server inbound", "us-east-1a", [rule(10, "deny", False)] + [rule(100, "allow", True)], False),
    ("server outbound (the replies)", "us-east-1a", [rule(10, "deny", True)] + [rule(100, "allow", False)], True),
    ("client outbound", "us-east-1b", [rule(10, "deny", True)] + [rule(100, "allow", False)], False),
    ("client inbound (the replies)", "us-east-1b", [rule(10, "deny", False)] + [rule(100, "allow", True)], True),
]


@pytest.mark.parametrize(("cut", "az", "entries", "server_receives"), CUTS, ids=[c[0] for c in CUTS])
def test_isolation_holds_in_both_directions(fabric: FabricClient, net: Net, echo: EchoServer, cut: str, az: str,
                                            entries: list[dict[str, Any]], server_receives: bool) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        assert exchange(sock, b"ok") == b"ok"
        fabric.set_nacls(nacls(net, {az: entries}))
        sock.sendall(b"ping")
        assert_silent(sock)
        if server_receives:
            wait_for(lambda: echo.received == len(b"okping"), "the server to receive the client's bytes")
        else:
            assert echo.received == len(b"ok")
        fabric.set_nacls(nacls(net))
        sock.settimeout(5)
        assert sock.recv(4) == b"ping"
        # Exactly once: a held byte delivered twice would come back here instead of the new ones.
        assert exchange(sock, b"after") == b"after"
    wait_for(lambda: echo.received == len(b"okpingafter"), "the server to have received every byte exactly once")


def test_traffic_within_a_subnet_flows_while_it_is_cut_off(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    fabric.set_nacls(nacls(net, {"us-east-1a": []}))  # FIS-style: every other subnet cut off from 1a
    with create_connection(server, source_address=net.host("us-east-1a", 20), timeout_s=5) as same_subnet:
        assert exchange(same_subnet, b"neighbour") == b"neighbour"
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as other_subnet:
        other_subnet.sendall(b"stranger")
        assert_silent(other_subnet)
    with create_connection(server, source_address=net.vantage("virginia"), timeout_s=5) as user:
        user.sendall(b"customer")
        assert_silent(user)


def test_backend_not_listening_gives_the_hosts_reset(fabric: FabricClient, net: Net, short_dir: Path) -> None:
    address = net.host("us-east-1a")
    port = fabric.expose(address, 0, f"unix:{short_dir / 'nobody.sock'}")
    # The reset may beat connect() back to the client, or come with the first read.
    with pytest.raises(ConnectionResetError):
        with create_connection((address, port), source_address=net.host("us-east-1b"), timeout_s=5) as sock:
            sock.sendall(b"x")
            sock.recv(1)


def test_a_server_that_speaks_first_is_heard(fabric: FabricClient, net: Net, short_dir: Path) -> None:
    path = short_dir / "greeter.sock"
    with socket.socket(socket.AF_UNIX) as greeter:
        greeter.bind(str(path))
        greeter.listen(1)
        address = net.host("us-east-1a")
        port = fabric.expose(address, 0, f"unix:{path}")
        with create_connection((address, port), source_address=net.host("us-east-1b"), timeout_s=5) as client:
            accepted, _ = greeter.accept()
            with accepted:
                accepted.sendall(b"220 hello\r\n")  # before the client says anything
                assert client.recv(64) == b"220 hello\r\n"


def test_half_close_is_passed_on(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(64):
            received += chunk
        assert received == b"last words"  # the echo answered after our FIN, then closed: EOF arrives
    wait_for(lambda: fabric.stats()["open_flows"] == 0, "the fabric to forget the closed flow")


# Round trips per connection: as many as fit in about this long, within these bounds, so a fast
# link gets many chances to catch a quiet moment of the machine.
SAMPLING_S = 1.5
# A short path is sampled across the whole window the longest one needs (a 4 ms path: 375 round trips):
# its fastest is then taken over the window's quiet moments too, not only over its first 200 ms (a CI run
# with the other worker busy found a 4 ms path's fastest of 50 at 4.5 ms).
MIN_SAMPLES, MAX_SAMPLES = 5, 400


async def _min_rtt_ms(server: tuple[str, int], source: str, expected_ms: float) -> float:
    samples = int(min(MAX_SAMPLES, max(MIN_SAMPLES, SAMPLING_S * 1000.0 / max(expected_ms, 1.0))))
    reader, writer = await asyncio.open_connection(*server, local_addr=(source, 0))
    try:
        writer.write(b"warm")
        await reader.readexactly(4)
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            writer.write(b"ping")
            await reader.readexactly(4)
            times.append((time.perf_counter() - started) * 1000.0)
    finally:
        writer.close()
    return min(times)


def min_rtts_ms(cases: list[tuple[tuple[str, int], str, float]]) -> list[float]:
    """The fastest of several round trips per (server, source, expected RTT), all at once in one thread.

    The minimum, as ping reports it, because the configured delay is a floor that scheduling
    noise (other tests on the same two CPUs) only ever adds to.
    """
    async def measure() -> list[float]:
        return list(await asyncio.gather(*(_min_rtt_ms(*case) for case in cases)))
    return asyncio.run(asyncio.wait_for(measure(), 30))


# Waking a process on this kind of machine (a small VM shared with other test workers) costs tens
# to hundreds of microseconds, and a round trip through the fabric wakes four processes twice;
# that is the machine, not the fabric's delay. So the tolerance is 10% of the matrix, but never
# less than this. benchmarks/bench_fabric.py reports the precise figures.
WAKE_NOISE_MS = 0.5


def assert_rtt(got_ms: float, expected_ms: float, what: str) -> None:
    tolerance = max(0.1 * expected_ms, WAKE_NOISE_MS)
    assert expected_ms - tolerance <= got_ms <= expected_ms + tolerance, \
        f"{what}: {got_ms:.2f} ms, the matrix says {expected_ms} ms (tolerance {tolerance:.2f} ms)"


def test_latency_from_each_vantage_point_matches_the_matrix(fabric: FabricClient, net: Net, echo_process: str) -> None:
    # The delay is the behaviour under test here (a correctness property of the latency effect),
    # so its size is asserted, as the issue asks: the fastest of several round trips within 10%.
    targets = {region: expose(fabric, net, next(iter(spec.availability_zones)), echo_process)
               for region, spec in net.environment.regions.items()}
    cases = [(name, region, vp.rtt_ms[region]) for name, vp in net.environment.vantage_points.items()
             for region in vp.rtt_ms]
    measured = min_rtts_ms([(targets[region], net.vantage(name), rtt) for name, region, rtt in cases])
    for (name, region, expected), got in zip(cases, measured, strict=True):
        assert_rtt(got, expected, f"{name} -> {region}")


def test_latency_between_regions_matches_the_matrix(fabric: FabricClient, net: Net, echo_process: str) -> None:
    server = expose(fabric, net, "ap-southeast-1a", echo_process)
    cases = [("us-east-1a", "us-east-1"), ("us-west-2a", "us-west-2"), ("eu-central-1a", "eu-central-1"),
             ("ap-southeast-1b", "ap-southeast-1")]
    expected = [net.environment.rtt_ms(region, "ap-southeast-1") for _, region in cases]
    measured = min_rtts_ms([(server, net.host(az), rtt) for (az, _), rtt in zip(cases, expected, strict=True)])
    for (az, _), rtt, got in zip(cases, expected, measured, strict=True):
        assert_rtt(got, rtt, f"{az} -> ap-southeast-1a")


def test_closed_connections_leave_no_flows(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)
    sockets = [create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) for _ in range(50)]
    for sock in sockets:
        assert exchange(sock, b"x") == b"x"
    assert fabric.stats()["open_flows"] == 50
    for sock in sockets:
        sock.close()
    wait_for(lambda: fabric.stats()["open_flows"] == 0, "every flow to end after its client closed")
    wait_for(lambda: echo.open == 0, "the backend to see every connection closed")


def test_stop_leaves_no_process_socket_or_listener(short_dir: Path, net: Net, echo: EchoServer) -> None:
    process = FabricProcess(short_dir / "leak")
    client = process.start()
    pid = client.ping()["pid"]
    address = net.host("us-east-1a")
    port = client.expose(address, 0, echo.backend)
    held = create_connection((address, port), source_address=net.host("us-east-1b"), timeout_s=5)
    try:
        assert exchange(held, b"x") == b"x"
        process.stop()
        process.stop()  # safe twice
        assert not Path(f"/proc/{pid}").exists(), "the fabric process outlived stop()"
        assert not process.control_path.exists()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=2).close()
        wait_for(lambda: echo.open == 0, "the backend connection to close with the fabric")
    finally:
        held.close()
        process.stop()


def test_bad_commands_are_rejected_with_the_reason(fabric: FabricClient, net: Net) -> None:
    with pytest.raises(FabricCommandError, match="not allowed; use an IPv4 address in 127.0.0.0/8"):
        fabric.expose("10.0.0.1", 80, "unix:/tmp/x")
    with pytest.raises(FabricCommandError, match="backend 'http://x' is not allowed"):
        fabric.expose(net.host("us-east-1a"), 0, "http://x")
    with pytest.raises(FabricCommandError, match="unknown command 'bogus'"):
        fabric.request("bogus")
    with pytest.raises(FabricCommandError, match="nothing is exposed"):
        fabric.unexpose(net.host("us-east-1a"), 1)


def test_a_deep_state_directory_still_gets_a_control_socket(short_dir: Path) -> None:
    deep = short_dir / ("d" * 60) / ("e" * 60)
    process = FabricProcess(deep)
    try:
        assert process.start().ping()["pid"] > 0
        assert len(str(process.control_path)) < 108
    finally:
        process.stop()
    assert not process.control_path.exists()


def test_an_entry_it_cannot_parse_is_skipped_reported_and_the_rest_stays_enforced(
        fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    # One bad entry on a NACL associated with nothing used to fail the whole push, so no NACL
    # change was enforced any more: here the cut of us-east-1a must hold beside it.
    server = expose(fabric, net, "us-east-1a", echo)
    bad = {"RuleNumber": 10, "Protocol": "-1", "RuleAction": "deny", "Egress": False, "CidrBlock": "999.0.0.0/8"}
    pushed = nacls(net, {"us-east-1a": []}) + [{"NetworkAclId": "acl-loose", "Entries": [bad], "Associations": []}]
    result = fabric.set_nacls(pushed)
    assert [(s["acl_id"], s["entry"]) for s in result["skipped"]] == [("acl-loose", bad)]
    assert "999.0.0.0/8" in result["skipped"][0]["reason"]
    with create_connection(server, source_address=net.host("us-east-1b"), timeout_s=5) as sock:
        sock.sendall(b"cut?")
        assert_silent(sock)
    assert link(fabric, net.subnet_id("us-east-1b"), net.subnet_id("us-east-1a"))["denied_connections"] == 1
    assert fabric.set_nacls(nacls(net))["skipped"] == []


def test_the_fabric_log_is_private_from_its_first_byte(fabric_process: FabricProcess) -> None:
    # It may quote flows and NACL entries; created 0644 and narrowed later would leave a window.
    assert fabric_process.log_path.stat().st_mode & 0o777 == 0o600
