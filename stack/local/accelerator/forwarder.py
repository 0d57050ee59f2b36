"""The accelerator's static addresses: a TCP listener per address and port, relaying each connection.

A connection to one of an accelerator's static addresses is routed once, when it opens
(routing.choose: nearest group by the client's RTT, dials, weights, health), and relayed byte for
byte to the chosen endpoint's private address. The relay connects from the client's own address,
as Global Accelerator preserves the client IP for EC2 endpoints, so the fabric applies the network
ACLs and RTT of the client's path to the Region. An established connection stays where it was
routed (AWS: "established active connections are not moved"); only new ones follow health changes.
No DNS is involved: the client keeps connecting to the same two addresses. A connection on which
nothing has moved either way for the idle timeout (AWS: 340 s for TCP, scaled) is closed, so a relay
to an endpoint that went silent (a cut Region stalls) does not outlive its client for long.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping

from stack.local.accelerator.routing import Choice, Healthy, Listener, choose

CONNECT_TIMEOUT_S = 10.0  # wall seconds to reach the endpoint (network delay is never scaled)
IDLE_TIMEOUT_AWS_S = 340.0  # AWS: TCP connections idle this long are closed
CHUNK = 65536
log = logging.getLogger("gameday.accelerator")


class Relay:
    """Every listening socket of every accelerator, routing with the current configuration and health."""

    def __init__(self, rtt_of: Callable[[str], Mapping[str, float]], healthy: Healthy,
                 idle_timeout_s: float = IDLE_TIMEOUT_AWS_S) -> None:
        self.rtt_of = rtt_of  # client address -> RTT to each Region (empty: unknown client)
        self.healthy = healthy
        self.idle_timeout_s = idle_timeout_s  # wall seconds
        self.listeners: dict[tuple[str, int], Listener] = {}
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self.routed: Counter[str] = Counter()  # connections per endpoint group Region
        self.failed = 0
        self.rng = random.Random()
        self._connections: set[asyncio.Task[None]] = set()  # relays in progress, ended at close
        self._transports: set[asyncio.WriteTransport] = set()  # their sockets, both sides

    async def reconcile(self, listeners: Mapping[tuple[str, int], Listener]) -> list[str]:
        """Listen on exactly these (address, port)s; what could not be bound, one reason each."""
        self.listeners = dict(listeners)
        problems = []
        for key in list(self._servers):
            if key not in listeners:
                server = self._servers.pop(key)
                server.close()
        for (address, port) in listeners:
            if (address, port) in self._servers:
                continue
            try:
                self._servers[(address, port)] = await asyncio.start_server(
                    functools.partial(self._serve, (address, port)), address, port, reuse_address=True)
            except OSError as error:
                problems.append(f"cannot listen on {address}:{port}: {error.strerror or error}")
        return problems

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        # Aborting the sockets ends each relay on its own (a cancelled handler task makes asyncio's
        # stream callback raise on Python 3.11); only one still connecting upstream is cancelled.
        for transport in list(self._transports):
            transport.abort()
        if self._connections:
            _, pending = await asyncio.wait(list(self._connections), timeout=2.0)
            for task in pending:
                task.cancel()

    def route(self, key: tuple[str, int], client: str) -> Choice | None:
        listener = self.listeners.get(key)
        if listener is None:
            return None
        return choose(listener, client, self.rtt_of(client), self.healthy, self.rng)

    async def _serve(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        self._transports.add(writer.transport)
        try:
            await self._relay(key, reader, writer)
        finally:
            self._transports.discard(writer.transport)

    async def _relay(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = str(writer.get_extra_info("peername")[0])
        choice = self.route(key, client)
        if choice is None:
            self.failed += 1
            writer.transport.abort()
            return
        port = choice.group.endpoint_port(key[1])
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(choice.endpoint.address, port, local_addr=(client, 0)), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as error:
            self.failed += 1
            log.info("%s:%d -> %s %s:%d failed: %s", *key, choice.group.region, choice.endpoint.address, port, error)
            writer.transport.abort()
            return
        self.routed[choice.group.region] += 1
        activity = [asyncio.get_running_loop().time()]  # the last time a byte moved, either way
        self._transports.add(upstream_writer.transport)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer, activity, self.idle_timeout_s),
                                 _pipe(upstream_reader, writer, activity, self.idle_timeout_s))
        finally:
            self._transports.discard(upstream_writer.transport)
            writer.close()
            upstream_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, activity: list[float],
                idle_s: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(CHUNK), idle_s)
            except TimeoutError:
                if loop.time() - activity[0] >= idle_s:  # idle both ways: the connection is closed
                    writer.transport.abort()
                    return
                continue
            if not data:
                break
            activity[0] = loop.time()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


def rtt_table(vantage: Mapping[str, tuple[str, Mapping[str, float]]]) -> Callable[[str], Mapping[str, float]]:
    """client address -> its vantage point's RTTs, from {name: (subnet, rtt_ms)}; {} outside every one."""
    networks = [(ipaddress.IPv4Network(subnet), dict(rtts)) for subnet, rtts in vantage.values()]

    def rtt_of(client: str) -> Mapping[str, float]:
        address = ipaddress.IPv4Address(client)
        return next((rtts for network, rtts in networks if address in network), {})

    return rtt_of
