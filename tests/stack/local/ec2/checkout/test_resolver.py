"""The endpoint resolver: TTL honoured (scaled), answers followed when they change, clean errors."""
from __future__ import annotations

from typing import Iterator

import pytest

from stack.local.ec2.checkout.resolver import EndpointResolver
from stack.local.ec2.errors import EndpointResolutionError

from ..nameserver import Nameserver

NAME = "orders.abc.us-east-1.rds.amazonaws.com"


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def server(address_base: str) -> Iterator[Nameserver]:
    with Nameserver(f"{address_base}.1", NAME, "127.16.1.10", ttl_s=5) as s:
        yield s


def test_answer_is_cached_for_the_ttl_as_served_then_re_resolved(server: Nameserver) -> None:
    clock = Clock()
    resolver = EndpointResolver(NAME, server.host, server.port, clock=clock)
    assert resolver.address() == "127.16.1.10"
    server.point("127.16.2.10")
    clock.now_s += 4.99  # the server's TTL is already scaled: 5 s is 5 s
    assert resolver.address() == "127.16.1.10"
    assert server.queries == 1
    clock.now_s += 0.02
    assert resolver.address() == "127.16.2.10"
    assert server.queries == 2
    assert resolver.resolve().ttl_s == 5


def test_ttl_zero_is_never_cached(server: Nameserver) -> None:
    server.ttl_s = 0
    resolver = EndpointResolver(NAME, server.host, server.port, clock=Clock())
    resolver.address()
    resolver.address()
    assert server.queries == 2


def test_nxdomain_names_the_endpoint_and_the_server(server: Nameserver) -> None:
    resolver = EndpointResolver("other.example.", server.host, server.port)
    with pytest.raises(EndpointResolutionError, match=r"other\.example\.: NXDOMAIN from 127\."):
        resolver.address()


def test_silent_server_times_out_within_the_bound(address_base: str) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind((f"{address_base}.1", 0))
        resolver = EndpointResolver(NAME, *silent.getsockname(), timeout_s=0.2)
        with pytest.raises(EndpointResolutionError, match="did not answer"):
            resolver.address()
