"""Connections from a chosen source address, so the fabric treats a probe as that place's user.

A probe at a vantage point binds its sockets to an address in the vantage point's subnet; the
fabric then applies that user's latency and the NACLs for that address. Raw sockets and requests
both get a helper.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter


def address_in(subnet: str, host: int = 10) -> str:
    """The ``host``-th address of ``subnet`` (e.g. 127.200.1.10 in 127.200.1.0/24)."""
    return str(ipaddress.IPv4Network(subnet)[host])


def source_socket(source_address: str, dest: tuple[str, int] | None = None, timeout_s: float | None = None) -> socket.socket:
    """A TCP socket bound to ``source_address`` (any port), connected to ``dest`` when given. Raises OSError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.bind((source_address, 0))
        if dest is not None:
            sock.connect(dest)
    except OSError:
        sock.close()
        raise
    return sock


def create_connection(address: tuple[str, int], *, source_address: str, timeout_s: float | None = None) -> socket.socket:
    """``socket.create_connection`` from ``source_address``. Raises OSError."""
    return socket.create_connection(address, timeout=timeout_s, source_address=(source_address, 0))


class SourceAddressAdapter(HTTPAdapter):
    """A transport adapter whose connections bind to one source address."""

    def __init__(self, source_address: str, **kwargs: Any) -> None:
        self.source_address = source_address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_address, 0)
        super().init_poolmanager(*args, **kwargs)


def session(source_address: str) -> requests.Session:
    """A requests.Session whose every connection comes from ``source_address``."""
    result = requests.Session()
    result.trust_env = False  # a proxy from the environment would hide the source address
    adapter = SourceAddressAdapter(source_address)
    result.mount("http://", adapter)
    result.mount("https://", adapter)
    return result
