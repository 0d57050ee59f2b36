"""The authoritative DNS server: UDP and TCP listeners on one 127.x address and port.

Each datagram is answered synchronously in the event loop (``Responder.handle`` does no I/O), which is
the cheapest path in asyncio. TCP accepts several queries per connection (RFC 7766), with per-client
and total limits and short timeouts (``tcp.TcpClients``), so no client can stall another.
"""
from __future__ import annotations

import asyncio
import logging
import socket

from stack.local.route53.errors import Route53Error
from stack.local.route53.responder import Responder
from stack.local.route53.tcp import TcpClients

BIND_ATTEMPTS = 20


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder, log: logging.Logger) -> None:
        self.responder = responder
        self.log = log
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # typeshed gives every protocol's callback a BaseTransport; a datagram endpoint is handed a
        # DatagramTransport (not checked with isinstance: uvloop's transports do not subclass asyncio's).
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.responder.handle(data, addr[0], udp=True)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        self.log.debug("route53: UDP error %s", exc)


class DnsServer:
    """Serves ``responder`` on ``host``:``port`` (port 0: any port free for both UDP and TCP)."""

    def __init__(self, responder: Responder, host: str, port: int, log: logging.Logger | None = None) -> None:
        self.responder = responder
        self.host = host
        self.port = port
        self.log = log or logging.getLogger(__name__)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self.tcp_clients = TcpClients(responder, self.log)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def start(self) -> None:
        """Bind both listeners. Raises Route53Error naming the address when it is taken."""
        attempts = BIND_ATTEMPTS if self.port == 0 else 1
        for _ in range(attempts):
            udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp_sock.bind((self.host, self.port))
                # Room for bursts: the default receive buffer drops datagrams under load.
                udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                port = udp_sock.getsockname()[1]
                tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp_sock.bind((self.host, port))
            except OSError as error:
                udp_sock.close()
                if attempts == 1:
                    raise Route53Error(f"DNS server: cannot bind {self.host}:{self.port}: {error}; "
                                       "choose another dns_port or stop what holds it") from None
                continue
            break
        else:
            raise Route53Error(f"DNS server: no port on {self.host} was free for both UDP and TCP")
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self.responder, self.log), sock=udp_sock)
        self._udp = transport
        tcp_sock.listen(128)
        self._tcp = await asyncio.start_server(self.tcp_clients.serve, sock=tcp_sock)
        self.port = port
        self.log.info("route53: DNS listening on %s:%d (UDP and TCP)", self.host, port)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            self.tcp_clients.close_all()
            await self._tcp.wait_closed()
            self._tcp = None
