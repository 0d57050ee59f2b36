"""One proxied connection: the client side, the backend side, and a link for each direction.

``upstream`` carries client -> server bytes, ``downstream`` server -> client. Each is gated by
its own NACL verdict (stateless: the reply direction is a packet flow of its own, with the ports
swapped). The backend is connected only once the upstream direction is allowed, because on a cut
network the server never sees the SYN either.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from stack.local.fabric.acl import AclTable, Decision
from stack.local.fabric.link import Link
from stack.local.fabric.stats import LinkStats
from stack.local.fabric.timer import Timer
from stack.local.fabric import toxics
from stack.local.fabric.toxics import ToxicTable
from stack.local.fabric.topology import Place

if TYPE_CHECKING:
    from stack.local.fabric.backend import Backend

log = logging.getLogger("gameday.fabric.flow")


class Side(asyncio.Protocol):
    """The protocol of one socket of a flow; it only hands events to the flow's links."""

    def __init__(self) -> None:
        self.flow: Flow | None = None
        # Both set by the Flow that wires this socket, before any event can arrive: in connection_made
        # for a client's socket, before connecting for the server's.
        self.inbound: Link  # the link this socket's bytes go into
        self.outbound: Link  # the link that writes to this socket

    def data_received(self, data: bytes) -> None:
        self.inbound.feed(data)

    def eof_received(self) -> bool:
        self.inbound.feed_eof()
        return True  # keep the other half open: TCP half-close is passed on, not collapsed

    def pause_writing(self) -> None:
        self.outbound.writer_paused()

    def resume_writing(self) -> None:
        self.outbound.writer_resumed()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.flow is not None:
            self.flow.side_lost(self, exc)


class Flow:
    def __init__(self, *, client: Side, client_transport: asyncio.Transport, client_place: Place,
                 client_address: tuple[str, int], server_place: Place, server_address: tuple[str, int], backend: "Backend",
                 delay_s: float, timer: Timer,
                 stats: LinkStats, on_finished: Callable[["Flow"], None], identified_by: str = "address") -> None:
        self.client_place = client_place
        self.client_address = client_address  # the socket's real peer (127.0.0.1 for libpq), for the kernel lookup
        self.client_port = client_address[1]
        self.server_place = server_place
        self.server_address = server_address
        self.server_port = server_address[1]
        self.identified_by = identified_by
        self.backend = backend
        self.stats = stats
        self.upstream = Link(delay_s, timer, stats.count_upstream, self._link_done)
        self.downstream = Link(delay_s, timer, stats.count_downstream, self._link_done)
        self.verdicts: dict[str, Decision] = {}
        self.blackholed = False  # a blackhole toxic on the client's or server's port (toxics.py)
        self.path_blocked = ""  # why a site's route carries nothing now (sites.py); "" when it does
        self.path_jitter_s = 0.0  # the jitter of the site link the flow crosses
        self.client_transport: asyncio.Transport | None = client_transport
        self.server_transport: asyncio.Transport | None = None
        self._connecting = False
        self._aborted = False
        self._on_finished: Callable[[Flow], None] | None = on_finished
        client.flow, client.inbound, client.outbound = self, self.upstream, self.downstream
        self.upstream.set_reader(client_transport)
        self.downstream.attach_writer(client_transport)

    @property
    def stalled(self) -> bool:
        return not (self.upstream.allowed and self.downstream.allowed)

    @property
    def held_bytes(self) -> int:
        return self.upstream.held_bytes + self.downstream.held_bytes

    def set_delay(self, delay_s: float) -> None:
        self.upstream.delay_s = self.downstream.delay_s = delay_s

    def set_toxics(self, table: ToxicTable) -> None:
        """Take the toxics on the client's and the server's sending sides, and any blackhole (then re-``apply``)."""
        client, server = self.client_place.address, self.server_place.address
        self.upstream.sending = table.sending(client)
        self.downstream.sending = table.sending(server)
        if self.path_jitter_s > 0:
            for link in (self.upstream, self.downstream):
                link.sending = toxics.Sending(link.sending.delay_s, link.sending.loss, self.path_jitter_s)
        self.blackholed = table.blackholed(client, server, self.server_port)

    def reassign(self, client_place: Place, stats: LinkStats, identified_by: str) -> None:
        """The client turned out to be another node (its process was registered after it connected)."""
        self.client_place, self.stats, self.identified_by = client_place, stats, identified_by
        self.upstream.count = stats.count_upstream
        self.downstream.count = stats.count_downstream
        stats.connections += 1

    def apply(self, table: AclTable) -> None:
        """Gate both directions by the NACLs; a newly denied direction is recorded with its reason."""
        up = table.check(self.client_place.endpoint, self.server_place.endpoint, self.server_port)
        down = table.check(self.server_place.endpoint, self.client_place.endpoint, self.client_port)
        if self.blackholed:  # dropped like a denied packet: the SYN never arrives, nothing is reset
            up = Decision(False, note=f"blackhole toxic on port {self.server_port}")
        if self.path_blocked:  # a site's link is down or has no route: both directions are lost
            up = Decision(False, note=self.path_blocked)
            down = Decision(False, note=self.path_blocked)
        opening, was_stalled = not self.verdicts, self.stalled
        # Downstream first, so that when both directions are cut the first packet's reason is the last recorded.
        for name, link, decision in (("downstream", self.downstream, down), ("upstream", self.upstream, up)):
            if not decision.allowed and (link.allowed or opening):
                self.stats.deny(name, decision)
            link.set_allowed(decision.allowed)
            self.verdicts[name] = decision
        if not opening and not was_stalled and self.stalled:
            self.stats.stalls += 1
        if up.allowed and self.server_transport is None and not self._connecting and not self._aborted \
                and self.client_transport is not None and not self.upstream.done:
            self._connecting = True
            asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        server = Side()
        # Wired before connecting: a server that speaks first (a greeting) may be read before
        # this coroutine resumes.
        server.flow, server.inbound, server.outbound = self, self.downstream, self.upstream
        try:
            transport, _ = await self.backend.connect(lambda: server)
        except OSError as error:
            # The node is up but nothing listens: the client gets the host's reset, through the
            # downstream link so it still waits for the delay and for the NACL.
            log.info("backend %s refused a connection from %s: %s", self.backend, self.client_place.label, error)
            self._connecting = False
            self.downstream.feed_reset()
            self._maybe_finish()
            return
        self._connecting = False
        if self._aborted or transport.is_closing():
            transport.abort()  # the fabric is stopping, or the server already hung up (side_lost ran)
            self._maybe_finish()
            return
        self.server_transport = transport
        self.downstream.set_reader(transport)
        self.upstream.attach_writer(transport)

    def _link_done(self) -> None:
        if self.upstream.done and self.downstream.done:
            for transport in (self.client_transport, self.server_transport):
                if transport is not None and not transport.is_closing():
                    transport.close()  # after what was written to it is flushed

    def side_lost(self, side: Side, exc: Exception | None) -> None:
        """A socket closed. What it sent last (end of stream or its reset) travels on to the other end."""
        if side.inbound is self.upstream:
            self.client_transport = None
            lost, onward = self.downstream, self.upstream
        else:
            self.server_transport = None
            lost, onward = self.upstream, self.downstream
        lost.writer_lost()
        if not onward.done:
            if exc is not None:
                onward.feed_reset()
            else:
                onward.feed_eof()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.client_transport is None and self.server_transport is None and not self._connecting:
            if self._on_finished is not None:
                callback, self._on_finished = self._on_finished, None
                callback(self)

    def abort(self) -> None:
        """Drop both sockets at once (the fabric is stopping)."""
        self._aborted = True
        for transport in (self.client_transport, self.server_transport):
            if transport is not None:
                transport.abort()
