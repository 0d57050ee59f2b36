"""A tiny authoritative DNS server for the tests: one A record whose address and TTL can be changed."""
from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


class Nameserver:
    """Answers ``name`` A with ``address`` (TTL ``ttl_s``) over UDP; NXDOMAIN for any other name."""

    def __init__(self, host: str, name: str, address: str, ttl_s: int = 1) -> None:
        self.name = dns.name.from_text(name)
        self.address = address
        self.ttl_s = ttl_s
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-nameserver", daemon=True)

    def __enter__(self) -> "Nameserver":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def point(self, address: str) -> None:
        self.address = address

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            self.queries += 1
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            question = query.question[0]
            if question.name != self.name:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(self.name, self.ttl_s, "IN", "A", self.address))
            self._sock.sendto(response.to_wire(), peer)
