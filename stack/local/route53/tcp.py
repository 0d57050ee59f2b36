"""DNS over TCP (RFC 7766): several queries per connection, bounded so that no client can starve another.

The limits follow RFC 7766 section 6.2 and BIND's defaults:
- per client address at most ``MAX_PER_CLIENT`` connections (6.2.2: a server MAY limit the
  connections of one client address, much more loosely than the one connection a client should use);
- at most ``MAX_CONNECTIONS`` in all (BIND's ``tcp-clients``); when that is reached, the connection
  that has waited longest for a query is closed to make room (6.2.3: a server under load MAY use
  zero idle timeouts), so half-open connections spread over many addresses cannot lock others out;
- a new connection must deliver its first whole query within ``INITIAL_S`` (BIND's minimum
  ``tcp-initial-timeout``, 2.5 s), and later ones within ``IDLE_S`` (6.2.3: idle timeouts "on
  the order of seconds"); bytes trickling in do not extend the deadline, so a slow sender is cut too.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from stack.local.route53.responder import Responder

MAX_CONNECTIONS = 256
MAX_PER_CLIENT = 32
INITIAL_S = 2.5
IDLE_S = 5.0
WRITE_S = 5.0


@dataclass(eq=False)
class _Connection:
    client: str
    writer: asyncio.StreamWriter
    waiting_since: float | None  # monotonic; None while a query is being answered (not evictable)


@dataclass
class TcpStats:
    """Counters since start (for status and tests)."""

    accepted: int = 0
    refused_per_client: int = 0
    refused_full: int = 0
    evicted: int = 0
    timed_out: int = 0


class TcpClients:
    """Serves one accepted TCP connection at a time through ``serve``; owns the limits above."""

    def __init__(self, responder: Responder, log: logging.Logger, max_connections: int = MAX_CONNECTIONS,
                 max_per_client: int = MAX_PER_CLIENT, initial_s: float = INITIAL_S, idle_s: float = IDLE_S) -> None:
        self.responder = responder
        self.log = log
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.initial_s = initial_s
        self.idle_s = idle_s
        self.stats = TcpStats()
        self._open: list[_Connection] = []
        self._per_client: dict[str, int] = {}

    @property
    def open_count(self) -> int:
        return len(self._open)

    def close_all(self) -> None:
        for connection in list(self._open):
            connection.writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        client = str(peer[0])
        self.stats.accepted += 1
        connection = self._admit(client, writer)
        if connection is None:
            writer.close()
            return
        try:
            timeout_s = self.initial_s
            while True:
                connection.waiting_since = time.monotonic()
                try:
                    async with asyncio.timeout(timeout_s):  # the whole message, however it trickles in
                        header = await reader.readexactly(2)
                        length = int.from_bytes(header, "big")
                        data = await reader.readexactly(length) if length else b""
                except TimeoutError:
                    self.stats.timed_out += 1
                    break
                if not length:
                    break
                connection.waiting_since = None
                reply = self.responder.handle(data, client, udp=False)
                if reply is not None:
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    async with asyncio.timeout(WRITE_S):
                        await writer.drain()
                timeout_s = self.idle_s
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        finally:
            self._release(connection)
            writer.close()

    def _admit(self, client: str, writer: asyncio.StreamWriter) -> _Connection | None:
        if self._per_client.get(client, 0) >= self.max_per_client:
            self.stats.refused_per_client += 1
            return None
        if len(self._open) >= self.max_connections:
            idle = [c for c in self._open if c.waiting_since is not None]
            if not idle:
                self.stats.refused_full += 1
                return None  # every slot is answering a query right now
            longest = min(idle, key=lambda c: c.waiting_since or 0.0)
            self.stats.evicted += 1
            self._release(longest)
            longest.writer.close()
        connection = _Connection(client, writer, time.monotonic())
        self._open.append(connection)
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return connection

    def _release(self, connection: _Connection) -> None:
        if connection not in self._open:
            return
        self._open.remove(connection)
        left = self._per_client.get(connection.client, 0) - 1
        if left > 0:
            self._per_client[connection.client] = left
        else:
            self._per_client.pop(connection.client, None)
