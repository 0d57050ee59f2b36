"""The control channel: newline-delimited JSON requests and responses on a Unix socket.

A request is ``{"id": n, "op": "<command>", "args": {...}}``; the response is
``{"id": n, "ok": true, "result": ...}`` or ``{"id": n, "ok": false, "error": "...", "type": "..."}``.
Requests on one connection are answered in order.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from stack.local.fabric.errors import FabricError
from stack.local.fabric.fabric import Fabric

log = logging.getLogger("gameday.fabric.control")
# One line carries a whole NACL list of every Region; asyncio's default line limit is 64 KiB.
LINE_LIMIT_BYTES = 64 * 1024 * 1024


async def _respond(fabric: Fabric, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
        op, args, ident = request["op"], request.get("args") or {}, request.get("id")
    except (ValueError, KeyError, TypeError) as error:
        return {"id": None, "ok": False, "error": f"bad request {line[:200]!r}: {error}", "type": "FabricCommandError"}
    try:
        return {"id": ident, "ok": True, "result": await fabric.command(op, args)}
    except FabricError as error:
        return {"id": ident, "ok": False, "error": str(error), "type": type(error).__name__}
    except Exception as error:  # noqa: BLE001 - a bug in one command must not kill the fabric
        log.exception("command %s failed", op)
        return {"id": ident, "ok": False, "error": f"{op}: internal error {error!r}", "type": "FabricError"}


class ControlServer:
    def __init__(self, fabric: Fabric, path: str) -> None:
        self.fabric = fabric
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)  # a socket left by a crashed fabric
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=LINE_LIMIT_BYTES)
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while line := await reader.readline():
                response = await _respond(self.fabric, line)
                writer.write(json.dumps(response).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            writer.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
