"""Checkout from each vantage point: resolve like that user, connect from that user's address.

Each request resolves the checkout name at the authoritative server with the vantage point's ECS
subnet (honouring the answer's TTL, as a stub resolver would), then calls the first address, bound
to the vantage point's source address. Latency is the whole request, measured on the monotonic clock.

Every request opens a new connection (``Connection: close``), as Route 53's health checkers and
blackbox probers do. A pooled connection would hide a cut: TCP retransmits the held request after
the restore and it succeeds late, dated inside the outage. A new connection to a cut-off address
fails at connect(), so the connect timeout can be short (half a sample interval in the
experiments) while the read timeout leaves room for real latency.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from base import net
from probes import dns as dns_probe
from probes.sampler import Sample, Sampler


@dataclass(frozen=True)
class Response:
    address: str
    status: int
    latency_ms: float
    served_by: str  # the instance header, when the service sends one
    region: str


class Resolver:
    """Caches one vantage point's answer for its TTL, like a stub resolver."""

    def __init__(self, name: str, server: str, port: int, client_subnet: str | None) -> None:
        self.name, self.server, self.port, self.client_subnet = name, server, port, client_subnet
        self._answer: dns_probe.Answer | None = None
        self._expires = 0.0

    def address(self) -> str:
        now = time.monotonic()
        if self._answer is None or now >= self._expires or not self._answer.addresses:
            self._answer = dns_probe.query(self.name, self.server, self.port, self.client_subnet)
            self._expires = now + (self._answer.ttl_s or 0)
        if not self._answer.addresses:
            raise LookupError(f"{self.name}: {self._answer.rcode} with no address")
        return self._answer.addresses[0]

    def forget(self) -> None:
        """Drop the cached answer: the next request resolves again (a client that has just resolved)."""
        self._answer = None


class Client:
    def __init__(self, resolver: Resolver, port: int, source_address: str | None, connect_timeout_s: float = 2.0,
                 read_timeout_s: float = 2.0, host_header: str | None = None) -> None:
        for name, value in (("connect_timeout_s", connect_timeout_s), ("read_timeout_s", read_timeout_s)):
            if not value > 0:
                raise ValueError(f"checkout probe {name} must be > 0 s, got {value!r}")
        self.resolver, self.port = resolver, port
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.source_address = source_address
        self.host_header = host_header or resolver.name.rstrip(".")

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        address = self.resolver.address()
        # A session (and its connection pool) per request: asking for ``Connection: close`` is not
        # enough, because urllib3 pools the connection again unless the *server* says close, and
        # reuses it if the server's FIN has not arrived yet (a RemoteDisconnected under load).
        with net.session(self.source_address, pool_size=1) as session:
            return address, session.request(method, f"http://{address}:{self.port}{path}", timeout=self.timeout,
                                            headers={**(headers or {}), "Host": self.host_header,
                                                     "Connection": "close"}, **kwargs)

    def get(self, path: str = "/health") -> Response:
        started = time.monotonic()
        address, response = self.request("GET", path)
        latency_ms = (time.monotonic() - started) * 1000
        return Response(address, response.status_code, latency_ms,
                        response.headers.get("X-Instance-Id", ""), response.headers.get("X-Region", ""))

    def close(self) -> None:
        """Nothing is held open between requests; kept so callers can treat the client as a resource."""


def sampler(client: Client, vantage: str, interval_s: float, path: str = "/products",
            listener: Callable[[Sample[Response]], None] | None = None) -> Sampler[Response]:
    """A sample is ok when checkout answered 2xx. ``listener`` is told of each sample (probes.metrics publishes it)."""
    return Sampler(f"checkout:{path}", vantage, lambda: client.get(path), interval_s,
                   ok=lambda response: 200 <= response.status < 300, listener=listener)


def last_address(client: Client) -> str | None:
    """The address the client's resolver last handed out (where a failed request was going), or None."""
    answer = client.resolver._answer
    return answer.addresses[0] if answer is not None and answer.addresses else None
