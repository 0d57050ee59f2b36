"""Open connections as a given user would: bound to a source address (a vantage point's subnet).

On the local stack the fabric reads the source address to apply that user's latency and NACLs. On
AWS no client can borrow a remote user's address, so probes pass ``source_address=None`` there.
"""
from __future__ import annotations

import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class SourceAddressAdapter(HTTPAdapter):
    """A requests transport adapter whose connections bind to ``source_address`` (port chosen by the kernel)."""

    def __init__(self, source_address: str, **kwargs: Any) -> None:
        self.source_address = source_address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_address, 0)
        super().init_poolmanager(*args, **kwargs)


def session(source_address: str | None = None, pool_size: int = 4) -> requests.Session:
    """A requests.Session; with ``source_address``, every connection it opens is bound to that address."""
    result = requests.Session()
    result.trust_env = False  # never route probe traffic through a proxy from the environment
    if source_address:
        adapter = SourceAddressAdapter(source_address, pool_connections=pool_size, pool_maxsize=pool_size)
        result.mount("http://", adapter)
        result.mount("https://", adapter)
    return result


def connect(address: tuple[str, int], timeout_s: float | None, source_address: str | None = None) -> socket.socket:
    """A TCP connection, bound to ``source_address`` when given."""
    return socket.create_connection(address, timeout=timeout_s,
                                    source_address=(source_address, 0) if source_address else None)


def connect_unix(path: str, timeout_s: float | None) -> socket.socket:
    """A connected Unix stream socket (the local stack's servers listen on these); closed again if connect fails."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def vantage_address(subnet: str, host: int = 10) -> str:
    """The address a probe uses inside a vantage point's subnet (the same host number every time)."""
    import ipaddress

    return str(ipaddress.IPv4Network(subnet)[host])
