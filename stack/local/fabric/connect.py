"""Connections from a chosen source address, so the fabric treats a probe as that place's user.

A probe at a vantage point binds its sockets to an address in the vantage point's subnet; the
fabric then applies that user's latency and the NACLs for that address. Raw sockets and requests
both get a helper.
"""
from __future__ import annotations

import socket

import requests

from base import net

# One implementation for probes and the fabric's own tests: base.net (probes may not import the stack).
address_in = net.vantage_address
SourceAddressAdapter = net.SourceAddressAdapter


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
    return net.connect(address, timeout_s, source_address)


def session(source_address: str) -> requests.Session:
    """A requests.Session whose every connection comes from ``source_address``."""
    return net.session(source_address)
