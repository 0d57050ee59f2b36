"""``FabricClient``: the control channel from Python, one method per command. Thread-safe."""
from __future__ import annotations

import itertools
import json
import socket
import threading
from typing import Any, Iterable, Mapping, Sequence

from base import net
from stack.local.fabric.errors import FabricCommandError, FabricUnavailable
from stack.local.fabric.topology import Topology

DEFAULT_TIMEOUT_S = 10.0


class FabricClient:
    def __init__(self, path: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.path = str(path)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._ids = itertools.count(1)

    def request(self, op: str, **args: Any) -> object:
        """Send one command and return its result (a JSON value).

        Raises FabricCommandError when the fabric rejects it, FabricUnavailable when it does not answer.
        """
        with self._lock:
            ident = next(self._ids)
            payload = json.dumps({"id": ident, "op": op, "args": args}).encode() + b"\n"
            try:
                sock = self._connect()
                sock.sendall(payload)
                response = json.loads(self._read_line(sock))
            except (OSError, ValueError) as error:
                self._drop()
                raise FabricUnavailable(f"fabric control socket {self.path}: {op} failed: {error}") from None
        if response.get("id") != ident:
            raise FabricUnavailable(f"fabric control socket {self.path}: answer {response.get('id')} to request {ident}")
        if not response.get("ok"):
            raise FabricCommandError(response.get("error", f"{op} failed"))
        return response.get("result")

    def request_object(self, op: str, **args: Any) -> dict[str, Any]:
        """As ``request``, for the commands whose result is a JSON object."""
        result = self.request(op, **args)
        if not isinstance(result, dict):
            raise FabricUnavailable(f"fabric control socket {self.path}: {op} answered {result!r}; expected an object")
        return result

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock, self._buffer = net.connect_unix(self.path, self.timeout_s), b""
        return self._sock

    def _read_line(self, sock: socket.socket) -> bytes:
        while b"\n" not in self._buffer:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the fabric closed the control connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> "FabricClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ------------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self.request_object("ping")

    def set_topology(self, topology: Topology) -> dict[str, Any]:
        return self.request_object("set_topology", **topology.as_json())

    def set_nacls(self, network_acls: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Push ``describe_network_acls()["NetworkAcls"]`` (all Regions together); enforced when this returns."""
        return self.request_object("set_nacls", network_acls=[_jsonable(acl) for acl in network_acls])

    def expose(self, address: str, port: int, backend: str) -> int:
        """Listen on ``address:port`` (0: any free port) and forward to ``backend``; returns the bound port."""
        return int(self.request_object("expose", address=address, port=port, backend=backend)["port"])

    def unexpose(self, address: str, port: int) -> None:
        self.request("unexpose", address=address, port=port)

    def register_process(self, address: str, pid: int) -> None:
        """Connections opened by ``pid`` or its descendants come from the node at ``address``."""
        self.request("register_process", address=address, pid=pid)

    def set_site_links(self, links: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.request_object("set_site_links", links=list(links))

    def set_link_state(self, link_id: str, up: bool) -> dict[str, Any]:
        return self.request_object("set_link_state", link_id=link_id, up=up)

    def stats(self) -> dict[str, Any]:
        return self.request_object("stats")

    def shutdown(self) -> None:
        self.request("shutdown")


def _jsonable(value: object) -> object:
    # boto3 answers may carry datetimes (and Tags); only plain JSON goes over the channel.
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
