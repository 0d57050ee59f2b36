"""The authoritative DNS server: UDP and TCP listeners on one 127.x address and port.

Each datagram is answered synchronously in the event loop (``Responder.handle`` does no I/O). UDP is read
straight from the socket in batches (``_UdpReader``): asyncio's datagram transport reads one datagram per
wake-up of the loop, and that per-packet round of the selector, not the answer, was most of a query's cost
under load. TCP accepts several queries per connection (RFC 7766), with per-client
and total limits and short timeouts (``tcp.TcpClients``), so no client can stall another.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import socket

from stack.local.route53.errors import Route53Error
from stack.local.route53.responder import Responder
from stack.local.route53.tcp import TcpClients

BIND_ATTEMPTS = 20
# Datagrams answered per wake-up: enough to drain a burst in one go, few enough (about 0.1 ms of work when
# answers come from the cache) that TCP clients and the loop's other callbacks still get their turn.
UDP_BATCH = 64
# Replies waiting while the socket's send buffer is full (as asyncio's transport queues them); past this
# many a reply is dropped, as a loaded server's would be.
UDP_PENDING_LIMIT = 4096
UDP_MAX_DATAGRAM = 65535


class _UdpReader:
    """Answers the datagrams of a non-blocking UDP socket in batches, from the loop's reader callback."""

    def __init__(self, sock: socket.socket, responder: Responder, log: logging.Logger,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.sock, self.responder, self.log, self.loop = sock, responder, log, loop
        self._pending: collections.deque[tuple[bytes, tuple[str, int]]] = collections.deque()
        self.dropped_replies = 0

    def start(self) -> None:
        self.sock.setblocking(False)
        self.loop.add_reader(self.sock.fileno(), self._read_ready)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.sock.close()

    def _read_ready(self) -> None:
        receive, handle = self.sock.recvfrom, self.responder.handle
        for _ in range(UDP_BATCH):
            try:
                data, addr = receive(UDP_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                # ICMP port unreachable from a client that went away: nothing to do.
                self.log.debug("route53: UDP error %s", error)
                continue
            reply = handle(data, addr[0], udp=True)
            if reply is not None:
                self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        if not self._pending:
            try:
                self.sock.sendto(reply, addr)
                return
            except (BlockingIOError, InterruptedError):
                self.loop.add_writer(self.sock.fileno(), self._write_ready)
            except OSError as error:
                self.log.debug("route53: UDP error %s sending to %s", error, addr[0])
                return
        if len(self._pending) < UDP_PENDING_LIMIT:
            self._pending.append((reply, addr))
        else:
            self.dropped_replies += 1

    def _write_ready(self) -> None:
        while self._pending:
            reply, addr = self._pending[0]
            try:
                self.sock.sendto(reply, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self.log.debug("route53: UDP error %s sending to %s", error, addr[0])
            self._pending.popleft()
        self.loop.remove_writer(self.sock.fileno())


class DnsServer:
    """Serves ``responder`` on ``host``:``port`` (port 0: any port free for both UDP and TCP)."""

    def __init__(self, responder: Responder, host: str, port: int, log: logging.Logger | None = None) -> None:
        self.responder = responder
        self.host = host
        self.port = port
        self.log = log or logging.getLogger(__name__)
        self._udp: _UdpReader | None = None
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
        self._udp = _UdpReader(udp_sock, self.responder, self.log, asyncio.get_running_loop())
        self._udp.start()
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
