"""DNS over TCP stays open to every client while others hold connections half-open (RFC 7766 6.2.2-6.2.3).

A "half-open" connection here is one that is accepted and then sends nothing, or only part of a
length prefix: it costs the server a slot until a timeout closes it. The server's accept queue is
served in order, so a last, complete query from the holder marks the moment every earlier
connection has been accepted; the other client's query comes after that, with one attempt.
"""
from __future__ import annotations

import contextlib
import socket
from typing import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.query
import pytest

from base.deadline import holds_within
from stack.local.route53 import tcp

from .served import Served, running
from .zones import rec

RECORDS = [rec("www", "192.0.2.1", ttl=60), rec("big", *[f"198.51.100.{i}" for i in range(1, 61)], ttl=60)]
OTHER_CLIENT = "127.0.0.3"


@pytest.fixture
def served() -> Iterator[Served]:
    with running(RECORDS) as s:
        yield s


@contextlib.contextmanager
def half_open(served: Served, sources: list[str], per_source: int) -> Iterator[list[socket.socket]]:
    """``per_source`` connections from each source that never send a whole query (every other one sends 1 byte)."""
    sockets: list[socket.socket] = []
    try:
        for source in sources:
            for index in range(per_source):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((source, 0))
                sock.connect((served.host, served.port))
                if index % 2:
                    sock.send(b"\x00")  # half a length prefix
            # Accepted in order: once this one is answered or closed, every earlier one was accepted.
            with contextlib.suppress(OSError, EOFError, dns.exception.DNSException):
                dns.query.tcp(dns.message.make_query("www.example.com", "A"), served.host, port=served.port,
                              timeout=5, source=source)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_one_client_holding_many_connections_does_not_block_another(served: Served) -> None:
    with half_open(served, ["127.0.0.2"], tcp.MAX_CONNECTIONS + 8) as held:
        reply = dns.query.tcp(dns.message.make_query("big.example.com", "A"), served.host, port=served.port,
                              timeout=2, source=OTHER_CLIENT)
        assert reply.rcode() == 0 and len(reply.answer[0]) == 60
        # The holder gets no more than its share: the connections past it were closed at once.
        assert holds_within(lambda: sum(closed_by_server(s) for s in held) >= len(held) - tcp.MAX_PER_CLIENT, 10), \
            "the server kept more than its per-client limit open"


def test_many_clients_holding_every_slot_do_not_block_a_new_one(served: Served) -> None:
    sources = [f"127.0.1.{i}" for i in range(1, 1 + tcp.MAX_CONNECTIONS // 16 + 2)]
    with half_open(served, sources, 16):
        reply = dns.query.tcp(dns.message.make_query("www.example.com", "A"), served.host, port=served.port,
                              timeout=2, source=OTHER_CLIENT)
        assert reply.rcode() == 0


def test_truncated_answer_falls_back_to_tcp_while_a_client_holds_connections(served: Served) -> None:
    """The fallback a resolver makes after TC=1 (RFC 7766 5) still works under the same pressure."""
    with half_open(served, ["127.0.0.2"], tcp.MAX_CONNECTIONS + 8):
        query = dns.message.make_query("big.example.com", "A")
        reply, used_tcp = dns.query.udp_with_fallback(query, served.host, port=served.port, timeout=2,
                                                      source=OTHER_CLIENT)
        assert used_tcp and not reply.flags & dns.flags.TC and len(reply.answer[0]) == 60
