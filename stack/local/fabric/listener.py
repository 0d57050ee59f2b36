"""An exposed address: the fabric listens on a node's private address and hands each connection to a flow."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from stack.local.fabric.backend import Backend
from stack.local.fabric.flow import Side

if TYPE_CHECKING:
    from stack.local.fabric.fabric import Fabric

# Hundreds of clients may connect at once (the 500-connection benchmark, a reconnect storm after
# a failover); the kernel caps this at net.core.somaxconn.
BACKLOG = 4096


class ClientSide(Side):
    def __init__(self, listener: "Listener") -> None:
        super().__init__()
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # typeshed gives every protocol's callback a BaseTransport; a stream server hands a Transport
        # (not checked with isinstance: uvloop's transports do not subclass asyncio's).
        self.listener.fabric.accept(self.listener, self, transport)  # type: ignore[arg-type]


class Listener:
    def __init__(self, fabric: "Fabric", address: str, port: int, backend: Backend) -> None:
        self.fabric = fabric
        self.address = address
        self.port = port
        self.backend = backend
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (the kernel's pick when ``port`` is 0). Raises OSError."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientSide(self), host=self.address, port=self.port, backlog=BACKLOG, reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def as_json(self) -> dict[str, object]:
        return {"address": self.address, "port": self.port, "backend": str(self.backend)}
