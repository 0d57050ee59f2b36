"""Where an exposed address forwards to: the real server's Unix socket or loopback TCP port."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable

from stack.local.fabric.errors import FabricCommandError

UNIX_SEND_BUFFER_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Backend:
    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp:{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> "Backend":
        """``unix:/path/to/socket`` or ``tcp:127.0.0.1:<port>``. Raises FabricCommandError otherwise."""
        kind, _, rest = str(text).partition(":")
        if kind == "unix" and rest.startswith("/"):
            return cls("unix", path=rest)
        if kind == "tcp":
            host, _, port = rest.rpartition(":")
            try:
                address = ipaddress.IPv4Address(host)
                number = int(port)
            except ValueError:
                address, number = None, 0
            if address is not None and address.is_loopback and 0 < number < 65536:
                return cls("tcp", host=host, port=number)
        raise FabricCommandError(
            f"backend {text!r} is not allowed; use unix:/absolute/path or tcp:127.x.y.z:<port> (loopback only)"
        )

    async def connect(self, factory: Callable[[], asyncio.Protocol]) -> tuple[asyncio.Transport, asyncio.Protocol]:
        """Open a connection to the backend. Raises OSError when nothing listens there."""
        loop = asyncio.get_running_loop()
        if self.kind == "tcp":
            return await loop.create_connection(factory, self.host, self.port)
        transport, protocol = await loop.create_unix_connection(factory, self.path)
        try:
            # A Unix socket queues only its send buffer (208 KiB by default), a loopback TCP socket
            # megabytes: without this the bulk rate through the fabric halves (capped at wmem_max).
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UNIX_SEND_BUFFER_BYTES)
        except OSError:
            pass
        return transport, protocol
