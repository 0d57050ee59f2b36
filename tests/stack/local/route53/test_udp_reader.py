"""The DNS server's UDP reader: a burst is answered in batches, and a full send buffer queues replies."""
from __future__ import annotations

import logging
import socket
from typing import Any, Callable

import dns.message
import dns.rcode

from stack.local.route53 import server
from stack.local.route53.loop import LoopThread

from .served import running
from .zones import rec


def test_a_burst_of_queries_is_answered_in_full() -> None:
    """More queries at once than one batch reads: the reader comes back for the rest, none is lost."""
    count = server.UDP_BATCH * 3 + 5
    with running([rec("www", "192.0.2.1", ttl=60)]) as served, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for ident in range(count):
            query = dns.message.make_query("www.example.com.", "A", id=ident)
            sock.sendto(query.to_wire(), (served.host, served.port))
        answered = set()
        while len(answered) < count:
            reply = dns.message.from_wire(sock.recv(4096))
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer
            answered.add(reply.id)
    assert answered == set(range(count))


class _Responder:
    def handle(self, wire: bytes, source: str, udp: bool) -> bytes | None:
        return b"reply:" + wire


class _FullBufferSocket:
    """A socket whose send buffer is full for the first ``blocked`` sends; records what was sent."""

    def __init__(self, blocked: int, datagrams: list[bytes]) -> None:
        self.blocked, self.datagrams, self.sent = blocked, list(datagrams), []

    def fileno(self) -> int:
        return 99

    def setblocking(self, flag: bool) -> None:
        pass

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if not self.datagrams:
            raise BlockingIOError
        return self.datagrams.pop(0), ("127.0.0.9", 5300)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        if self.blocked:
            self.blocked -= 1
            raise BlockingIOError
        self.sent.append(data)
        return len(data)


class _Loop:
    def __init__(self) -> None:
        self.writers: dict[int, Callable[[], None]] = {}

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        pass

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        self.writers[fd] = callback

    def remove_writer(self, fd: int) -> bool:
        return self.writers.pop(fd, None) is not None


def test_replies_wait_while_the_send_buffer_is_full_and_go_out_in_order() -> None:
    sock, loop = _FullBufferSocket(blocked=2, datagrams=[b"q1", b"q2", b"q3"]), _Loop()
    reader = server._UdpReader(sock, _Responder(), logging.getLogger("test"), loop)  # type: ignore[arg-type]
    reader._read_ready()
    assert sock.sent == [] and 99 in loop.writers  # the first send blocked: all three wait for the writer
    loop.writers[99]()  # still full once
    assert sock.sent == [] and 99 in loop.writers
    loop.writers[99]()
    assert sock.sent == [b"reply:q1", b"reply:q2", b"reply:q3"]
    assert 99 not in loop.writers and reader.dropped_replies == 0


def test_past_the_pending_limit_a_reply_is_dropped_and_counted(monkeypatch: Any) -> None:
    monkeypatch.setattr(server, "UDP_PENDING_LIMIT", 2)
    sock, loop = _FullBufferSocket(blocked=10, datagrams=[b"q1", b"q2", b"q3"]), _Loop()
    reader = server._UdpReader(sock, _Responder(), logging.getLogger("test"), loop)  # type: ignore[arg-type]
    reader._read_ready()
    assert reader.dropped_replies == 1


def test_stop_releases_the_socket() -> None:
    loop = LoopThread("test-udp-reader")
    try:
        dns_server = server.DnsServer(_Responder(), "127.0.0.1", 0)  # type: ignore[arg-type]
        loop.run(dns_server.start())
        port = dns_server.port
        loop.run(dns_server.stop())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind(("127.0.0.1", port))  # free again
    finally:
        loop.stop()
