"""Site links: a site reaches a Region only over its links; BGP moves traffic to the backup and back."""
from __future__ import annotations

import socket
import time
from typing import Any, Callable

import pytest

from stack.local.fabric.client import FabricClient
from stack.local.fabric.connect import create_connection
from stack.local.fabric.errors import FabricCommandError
from stack.local.fabric.sites import SiteRouter

from .conftest import EchoServer, Net
from .test_fabric import assert_silent, exchange, expose

VPN_ONE_WAY_MS = 15.0
DETECTION_S = 0.3


def links(detection_s: float = DETECTION_S) -> list[dict[str, Any]]:
    return [{"link_id": "warehouse/dx", "site": "warehouse", "region": "us-west-2", "kind": "direct_connect",
             "preference": 200, "detection_s": detection_s},
            {"link_id": "warehouse/vpn", "site": "warehouse", "region": "us-west-2", "kind": "vpn",
             "preference": 100, "added_delay_ms": VPN_ONE_WAY_MS, "detection_s": detection_s}]


def fastest_ms(sock: socket.socket, rounds: int = 10) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        exchange(sock, b"ping")
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def site_host(net: Net, site: str) -> str:
    return str(net.environment.sites[site].network[10])


def test_a_site_reaches_a_region_over_direct_connect_then_the_vpn_after_detection_then_fails_back(
        fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-west-2a", echo)
    fabric.set_site_links(links())
    with create_connection(server, source_address=site_host(net, "warehouse"), timeout_s=5) as sock:
        over_dx = fastest_ms(sock)
        cut_at = time.monotonic()
        fabric.set_link_state("warehouse/dx", False)
        sock.sendall(b"held")
        sock.settimeout(5)
        # Until BGP withdraws the DX routes the bytes stall; then they arrive over the VPN, not lost.
        assert sock.recv(4) == b"held"
        assert time.monotonic() - cut_at >= DETECTION_S
        over_vpn = fastest_ms(sock)
        fabric.set_link_state("warehouse/dx", True)
        back = fastest_ms(sock)
    # The fastest round trip: a delay is never early, and load only adds to it.
    assert over_vpn >= 2 * VPN_ONE_WAY_MS
    assert over_dx < 2 * VPN_ONE_WAY_MS and back < 2 * VPN_ONE_WAY_MS
    events = {link["link_id"]: [e["event"] for e in link["events"]] for link in fabric.stats()["site_links"]}
    assert events["warehouse/dx"] == ["down", "withdrawn", "up", "advertised"]


def test_a_site_without_a_link_to_a_region_cannot_reach_it(fabric: FabricClient, net: Net, echo: EchoServer) -> None:
    server = expose(fabric, net, "us-east-1a", echo)  # the warehouse's links all go to us-west-2
    fabric.set_site_links(links())
    with create_connection(server, source_address=site_host(net, "warehouse"), timeout_s=5) as sock:
        sock.sendall(b"x")
        assert_silent(sock)
    assert echo.accepted == 0


def test_with_every_link_down_the_site_is_cut_until_one_returns(fabric: FabricClient, net: Net,
                                                                echo: EchoServer) -> None:
    server = expose(fabric, net, "us-west-2a", echo)
    fabric.set_site_links(links(detection_s=0.0))
    fabric.set_link_state("warehouse/dx", False)
    fabric.set_link_state("warehouse/vpn", False)
    with create_connection(server, source_address=site_host(net, "warehouse"), timeout_s=5) as sock:
        sock.sendall(b"x")
        assert_silent(sock)
        fabric.set_link_state("warehouse/vpn", True)
        sock.settimeout(5)
        assert sock.recv(1) == b"x"


@pytest.mark.parametrize("bad", [{"kind": "dx"}, {"detection_s": -1}, {"link_id": None, "site": None}])
def test_a_bad_site_link_is_refused_naming_it(fabric: FabricClient, bad: dict) -> None:
    with pytest.raises(FabricCommandError, match="set_site_links"):
        fabric.set_site_links([{**links()[0], **bad}] if "link_id" not in bad else [{"kind": "vpn"}])


def test_an_unknown_link_is_refused_naming_the_known_ones(fabric: FabricClient) -> None:
    fabric.set_site_links(links())
    with pytest.raises(FabricCommandError, match="warehouse/dx"):
        fabric.set_link_state("warehouse/nope", False)


class FakeClock:
    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def schedule(self, delay: float, callback: Callable[[], None]) -> "FakeClock.Handle":
        entry = (delay, callback)
        self.pending.append(entry)
        return FakeClock.Handle(self, entry)

    def fire(self) -> None:
        due, self.pending = self.pending, []
        for _, callback in due:
            callback()

    class Handle:
        def __init__(self, clock: "FakeClock", entry: tuple[float, Callable[[], None]]) -> None:
            self.clock, self.entry = clock, entry

        def cancel(self) -> None:
            if self.entry in self.clock.pending:
                self.clock.pending.remove(self.entry)


def test_routing_keeps_the_dead_link_until_detection_and_a_quick_return_cancels_the_withdrawal() -> None:
    clock = FakeClock()
    router = SiteRouter(clock.schedule, lambda: None)
    router.set_links(links())
    assert router.path("warehouse", "us-west-2").link.link_id == "warehouse/dx"  # type: ignore[union-attr]
    router.set_state("warehouse/dx", False)
    path = router.path("warehouse", "us-west-2")
    assert path.blocked and path.link is not None and path.link.link_id == "warehouse/dx"
    assert [delay for delay, _ in clock.pending] == [DETECTION_S]
    router.set_state("warehouse/dx", True)  # back before BGP noticed: no withdrawal, nothing moved
    assert clock.pending == [] and not router.path("warehouse", "us-west-2").blocked
    router.set_state("warehouse/dx", False)
    clock.fire()
    path = router.path("warehouse", "us-west-2")
    assert not path.blocked and path.link is not None and path.link.link_id == "warehouse/vpn"
    assert path.added_delay_s == VPN_ONE_WAY_MS / 1000.0
    # Setting the links again (a part restart) keeps the cut.
    router.set_links(links())
    assert router.path("warehouse", "us-west-2").link.link_id == "warehouse/vpn"  # type: ignore[union-attr]
