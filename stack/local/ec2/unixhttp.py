"""HTTP over a Unix socket: how the part (and tests, and the benchmark) talk to a checkout process directly."""
from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from base import net


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client's connection (keep-alive included), connected to a Unix socket instead of TCP."""

    def __init__(self, socket_path: Path | str, timeout_s: float = 5.0) -> None:
        super().__init__("localhost", timeout=timeout_s)
        self.socket_path = str(socket_path)

    def connect(self) -> None:
        self.sock = net.connect_unix(self.socket_path, self.timeout)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any  # the decoded JSON (None when the body is not JSON)


def request(connection: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> Reply:
    """One request on an open (keep-alive) connection. Raises OSError / http.client errors on transport failure."""
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, decoded)


def call(socket_path: Path | str, method: str, path: str, body: Any = None, timeout_s: float = 5.0) -> Reply:
    """One request on a fresh connection."""
    connection = UnixHTTPConnection(socket_path, timeout_s)
    try:
        return request(connection, method, path, body)
    finally:
        connection.close()
