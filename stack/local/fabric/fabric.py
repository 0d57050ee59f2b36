"""The fabric's state and its control commands, inside the fabric process.

It holds the topology, the NACL table, the exposed listeners, the registered processes and
every open flow. A command that changes what is allowed re-gates every open flow before it
answers, so "the push returned" means "enforced".
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from stack.local.fabric.acl import AclTable, SkippedEntry
from stack.local.fabric.backend import Backend
from stack.local.fabric.errors import FabricCommandError
from stack.local.fabric.flow import Flow, Side
from stack.local.fabric.listener import Listener
from stack.local.fabric.owner import OwnerRegistry
from stack.local.fabric.sites import Path, SiteRouter
from stack.local.fabric.stats import Stats
from stack.local.fabric.timer import Timer
from stack.local.fabric.toxics import ToxicTable
from stack.local.fabric.topology import Place, Topology

if TYPE_CHECKING:
    from stack.local.fabric.firewall import Firewall  # imported only when the kernel path is asked for

log = logging.getLogger("gameday.fabric")
HOST = "host"  # how a flow from an address no subnet, source or registered process holds was identified
# How often connections that were cut before they reached their server are checked for a client
# that gave up (see _reap).
REAP_INTERVAL_S = 1.0
# Linux TCP states (include/net/tcp_states.h) in which the client has closed or reset its end.
_CLIENT_GONE = frozenset({7, 8, 9})  # TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LAST_ACK


def _address(value: object, what: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.IPv4Address(str(value))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise FabricCommandError(f"{what}: {value!r} is not allowed; use an IPv4 address in 127.0.0.0/8")
    return address


def _port(value: object, what: str) -> int:
    if isinstance(value, int) and 0 <= value < 65536:
        return value
    raise FabricCommandError(f"{what}: {value!r} is not allowed; use a TCP port number from 0 (any free port) to 65535")


class Fabric:
    def __init__(self, loop: asyncio.AbstractEventLoop, firewall: Firewall | None = None) -> None:
        self.loop = loop
        self.topology = Topology()
        self.acls = AclTable.empty()
        self.toxics = ToxicTable()
        self.owners = OwnerRegistry()
        self.stats = Stats()
        self.timer = Timer(loop)
        self.sites = SiteRouter(loop.call_later, self._reroute)
        self.firewall = firewall  # the optional kernel path (firewall.Firewall), root only
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.flows: set[Flow] = set()
        self.stopped = asyncio.Event()
        self.nacls_version = 0
        self.reaped = 0
        self._reaper = loop.create_task(self._reap_forever())
        self.commands: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "ping": self.ping, "set_topology": self.set_topology, "set_nacls": self.set_nacls,
            "expose": self.expose, "unexpose": self.unexpose, "register_process": self.register_process,
            "stats": self.report, "shutdown": self.shutdown, "set_toxics": self.set_toxics,
            "set_site_links": self.set_site_links, "set_link_state": self.set_link_state,
        }

    async def command(self, name: str, args: Mapping[str, Any]) -> Any:
        """Run one control command. Raises FabricCommandError for an unknown command or bad arguments."""
        handler = self.commands.get(name)
        if handler is None:
            raise FabricCommandError(f"unknown command {name!r}; known: {', '.join(sorted(self.commands))}")
        result = handler(args)
        if isinstance(result, Awaitable):
            result = await result
        return result

    # -- commands ----------------------------------------------------------------------------

    def ping(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"pid": os.getpid(), "loop": type(self.loop).__module__.split(".")[0]}

    def set_topology(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.topology = Topology.from_json(args)
        for flow in self.flows:
            # An address keeps its identity; only its subnet (and so its Region and NACL) may change.
            flow.server_place = self.topology.locate(flow.server_place.address)
            self._place(flow, flow.client_place.address, flow.identified_by)
        self._enforce()
        return {"subnets": len(self.topology.subnets), "sources": len(self.topology.sources)}

    def set_nacls(self, args: Mapping[str, Any]) -> dict[str, Any]:
        acls = args.get("network_acls")
        if not isinstance(acls, list):
            raise FabricCommandError(f"set_nacls: network_acls is {type(acls).__name__}; expected the NetworkAcls list")
        started = time.perf_counter()
        # An entry that cannot be parsed is skipped, not fatal: refusing the whole list would leave
        # every NACL of every Region at its previous state. The caller is told what was skipped.
        skipped: list[SkippedEntry] = []
        self.acls = AclTable.from_aws(acls, skipped)
        for item in skipped:
            log.warning("set_nacls: skipped an entry of %s, not enforced: %s", item.acl_id, item.reason)
        self.nacls_version += 1
        self._enforce()
        return {"flows": len(self.flows), "stalled": sum(f.stalled for f in self.flows),
                "apply_ms": (time.perf_counter() - started) * 1000.0, "version": self.nacls_version,
                "skipped": [item.as_json() for item in skipped]}

    def set_toxics(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Replace every toxic (toxics.py); open connections take them at once, as new ones will."""
        self.toxics = ToxicTable.from_json(args.get("toxics"))
        for flow in list(self.flows):
            flow.set_toxics(self.toxics)
        self._enforce()
        return {"toxics": len(self.toxics.toxics), "flows": len(self.flows)}

    def set_site_links(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the links between sites and Regions (sites.py); open flows are routed again."""
        return self.sites.set_links(args.get("links"))

    def set_link_state(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A site link fails (``up`` false) or returns; BGP withdraws or advertises its routes after its timers."""
        up = args.get("up")
        if not isinstance(up, bool):
            raise FabricCommandError(f"set_link_state: up is {up!r}; expected true or false")
        return self.sites.set_state(str(args.get("link_id")), up)

    async def expose(self, args: Mapping[str, Any]) -> dict[str, Any]:
        address = str(_address(args.get("address"), "expose.address"))
        port = _port(args.get("port", 0), "expose.port")
        backend = Backend.parse(str(args.get("backend", "")))
        existing = self.listeners.get((address, port))
        if existing is not None:
            if existing.backend != backend:
                raise FabricCommandError(
                    f"expose: {address}:{port} already forwards to {existing.backend}; unexpose it before pointing it at {backend}")
            return existing.as_json()
        listener = Listener(self, address, port, backend)
        try:
            bound = await listener.start()
        except OSError as error:
            raise FabricCommandError(f"expose: cannot listen on {address}:{port}: {error.strerror or error}") from None
        self.listeners[(address, bound)] = listener
        self._update_firewall()
        log.info("exposed %s:%d -> %s", address, bound, backend)
        return listener.as_json()

    def unexpose(self, args: Mapping[str, Any]) -> dict[str, Any]:
        key = (str(_address(args.get("address"), "unexpose.address")), _port(args.get("port"), "unexpose.port"))
        listener = self.listeners.pop(key, None)
        if listener is None:
            raise FabricCommandError(f"unexpose: nothing is exposed on {key[0]}:{key[1]}; exposed: {sorted(self.listeners)}")
        listener.close()
        self._update_firewall()
        return listener.as_json()

    def register_process(self, args: Mapping[str, Any]) -> dict[str, Any]:
        address = _address(args.get("address"), "register_process.address")
        try:
            pid = int(args["pid"])
        except (KeyError, TypeError, ValueError):
            raise FabricCommandError(f"register_process: pid {args.get('pid')!r} is not a process id") from None
        if not os.path.exists(f"/proc/{pid}"):
            raise FabricCommandError(f"register_process: no process {pid}; register a running process")
        self.owners.register(address, pid)
        # The process may have connected before it was registered (a standby's walreceiver starts
        # at once): look again at every open connection still taken for the host itself.
        reassigned = 0
        for flow in list(self.flows):
            if flow.identified_by == HOST:
                owner = self.owners.owner(flow.client_address, flow.server_address)
                if owner is not None:
                    self._place(flow, owner[0], f"pid {owner[1]}")
                    flow.apply(self.acls)
                    reassigned += 1
        return {"registered": self.owners.registered, "reassigned": reassigned}

    def report(self, args: Mapping[str, Any]) -> dict[str, Any]:
        links = self.stats.as_json()
        open_by_link: dict[tuple[str, str, int], list[int]] = {}
        for flow in self.flows:
            counts = open_by_link.setdefault((flow.stats.source, flow.stats.destination, flow.stats.port), [0, 0, 0])
            counts[0] += 1
            counts[1] += flow.stalled
            counts[2] += flow.held_bytes
        for link in links:
            opened, stalled, held = open_by_link.get((link["source"], link["destination"], link["port"]), [0, 0, 0])
            link.update(open=opened, stalled=stalled, held_bytes=held)
        return {
            "pid": os.getpid(),
            "links": links,
            "listeners": [listener.as_json() for listener in self.listeners.values()],
            "open_flows": len(self.flows),
            "subnets": {s.subnet_id: str(s.network) for s in self.topology.subnets},
            "nacls_version": self.nacls_version,
            "registered": self.owners.registered,
            "owner_lookups": self.owners.lookups,
            "owner_denied_pids": sorted(self.owners.denied_pids),
            "reaped_flows": self.reaped,
            "kernel_drop": self.firewall is not None,
            # Handshakes of denied new flows dropped in the kernel never reach the links above.
            "kernel_drops": self.firewall.drops() if self.firewall is not None else [],
            "timer_lag_us": round(self.timer.lag_s * 1e6, 1),
            "site_links": self.sites.as_json(),
        }

    def shutdown(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.loop.call_soon(self.stopped.set)
        return {"stopping": True}

    # -- data plane ----------------------------------------------------------------------------

    def accept(self, listener: Listener, side: Side, transport: asyncio.Transport) -> None:
        """A client connected to an exposed address: find who it is, then gate and forward."""
        client_address = tuple(transport.get_extra_info("peername")[:2])
        server_address = tuple(transport.get_extra_info("sockname")[:2])
        peer = ipaddress.IPv4Address(client_address[0])
        identified_by = "address"
        if not self.topology.knows(peer):
            # Not a bound source address (libpq, or anything that did not bind): ask the kernel
            # which registered process holds the other end (owner.py explains the choice).
            owner = self.owners.owner(client_address, server_address)
            if owner is not None:
                peer, pid = owner
                identified_by = f"pid {pid}"
            else:
                identified_by = HOST
        client_place = self.topology.locate(peer)
        server_place = self.topology.locate(ipaddress.IPv4Address(server_address[0]))
        stats = self.stats.link(client_place.label, server_place.label, listener.port)
        stats.connections += 1
        path = self._path(client_place, server_place)
        flow = Flow(client=side, client_transport=transport, client_place=client_place, client_address=client_address,
                    server_place=server_place, server_address=server_address, backend=listener.backend,
                    delay_s=self.topology.one_way_delay_s(client_place, server_place) + path.added_delay_s, timer=self.timer,
                    stats=stats, on_finished=self.flows.discard, identified_by=identified_by)
        flow.path_blocked, flow.path_jitter_s = path.blocked, path.jitter_s
        self.flows.add(flow)
        flow.set_toxics(self.toxics)
        flow.apply(self.acls)
        if flow.stalled:
            stats.denied_connections += 1

    def _place(self, flow: Flow, client: ipaddress.IPv4Address, identified_by: str) -> None:
        """Put a flow's client at ``client``: its link (for the counters) and its delay follow."""
        place = self.topology.locate(client)
        if place.label != flow.stats.source or flow.server_place.label != flow.stats.destination:
            flow.reassign(place, self.stats.link(place.label, flow.server_place.label, flow.stats.port), identified_by)
        else:
            flow.client_place, flow.identified_by = place, identified_by
        self._route(flow)

    def _path(self, a: Place, b: Place) -> Path:
        """The site link between a site (its range, or a subnet on an Outpost there) and a Region's subnet
        (sites.py); an empty Path within one site and for any other pair."""
        for one, other in ((a, b), (b, a)):
            site, other_site = self.topology.site_of(one), self.topology.site_of(other)
            if site:
                if other_site and other_site != site:
                    return Path(None, f"no link between sites {site} and {other_site}")
                if not other_site and other.subnet is not None:
                    return self.sites.path(site, other.subnet.region)
        return Path(None)

    def _route(self, flow: Flow) -> None:
        """Give a flow its delay, its site path's state and its toxics (then ``apply`` gates it)."""
        path = self._path(flow.client_place, flow.server_place)
        flow.set_delay(self.topology.one_way_delay_s(flow.client_place, flow.server_place) + path.added_delay_s)
        flow.path_blocked, flow.path_jitter_s = path.blocked, path.jitter_s
        flow.set_toxics(self.toxics)

    def _reroute(self) -> None:
        """A site link changed: route every open flow again and gate it."""
        for flow in list(self.flows):
            self._route(flow)
        self._enforce()

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            self._reap()

    def _reap(self) -> None:
        """Forget connections that were cut before they reached their server and whose client gave up.

        A denied flow is not read from, so the fabric does not see its client's FIN or RST; the
        kernel does (the socket is in CLOSE_WAIT or CLOSE). Such a flow never reached its server,
        so nothing but a descriptor is left to free. Without this, a client retrying against a cut
        subnet (a health checker every interval) would pile up sockets until the fabric ran out.
        Flows whose server was reached stay: the server holds its half of the connection, as it
        would on a real cut network, until one end's own timeout.
        """
        for flow in list(self.flows):
            if flow.server_transport is not None or not flow.stalled or flow.client_transport is None:
                continue
            sock = flow.client_transport.get_extra_info("socket")
            try:
                state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            except (OSError, AttributeError):
                continue
            if state in _CLIENT_GONE:
                self.reaped += 1
                flow.abort()

    def _enforce(self) -> None:
        for flow in list(self.flows):
            flow.apply(self.acls)
        self._update_firewall()

    def _update_firewall(self) -> None:
        if self.firewall is not None:
            self.firewall.update(self.topology, self.acls, list(self.listeners))

    def close(self) -> None:
        self._reaper.cancel()
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
        for flow in list(self.flows):
            flow.abort()
        self.flows.clear()
        if self.firewall is not None:
            self.firewall.close()
        self.timer.close()
