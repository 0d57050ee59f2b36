"""The relay on its own: bytes both ways from the client's own address, and AWS's idle timeout (scaled)."""
from __future__ import annotations

import asyncio
import socket

from stack.local.accelerator.forwarder import Relay
from stack.local.accelerator.routing import Endpoint, Group, HealthSettings, Listener

CLIENT = "127.200.1.41"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_bytes_flow_from_the_clients_address_and_an_idle_connection_is_closed() -> None:
    async def run() -> None:
        seen: list[str] = []

        async def endpoint(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("peername")[0])
            line = await reader.readline()
            writer.write(b"echo " + line)
            await writer.drain()
            await reader.read()  # then silent: a stalled endpoint, as behind a cut Region

        server = await asyncio.start_server(endpoint, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        listen = free_port()
        group = Group("arn:g", "us-east-1", 100, (Endpoint("i-1", "127.0.0.1", 128),),
                      HealthSettings("TCP", port, "/", 10, 3), ((listen, port),))  # the listener port maps to the endpoint's
        listener = Listener("arn:l", "arn:a", ("127.0.0.1",), (listen,), "NONE", (group,))
        relay = Relay(lambda client: {"us-east-1": 4}, lambda arn, endpoint: True, idle_timeout_s=0.5)
        assert await relay.reconcile({("127.0.0.1", listen): listener}) == []
        reader, writer = await asyncio.open_connection("127.0.0.1", listen, local_addr=(CLIENT, 0))
        writer.write(b"hello\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"echo hello\n"
        assert seen == [CLIENT]
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the relay once idle
        assert asyncio.get_running_loop().time() - started >= 0.5 - 0.05  # not before the idle timeout
        writer.close()
        await relay.close()
        server.close()

    asyncio.run(run())
