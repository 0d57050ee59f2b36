"""The database endpoint's address, resolved through the stack's DNS server and cached for its TTL.

A production client behind a caching resolver (the VPC resolver, nscd) sees a new answer only once
the old one's TTL has run out: that is the delay RDS's 5 s endpoint TTL puts on every failover, so
the cache here honours the TTL exactly as served (the DNS server has already scaled it by the stack's
time scale) instead of re-querying on every connect. Every new connection asks ``address()`` again, so a reconnect after a failure
re-resolves as soon as the TTL allows.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import dns.exception
import dns.resolver

from stack.local.ec2.checkout import tracing
from stack.local.ec2.errors import EndpointResolutionError


@dataclass(frozen=True)
class Resolution:
    """One answer: the address, its TTL as served, and when (monotonic seconds) it stops being valid."""

    address: str
    ttl_s: int
    expires_at_s: float


class EndpointResolver:
    """Resolves one name (A record, CNAME chains followed) against one nameserver."""

    def __init__(self, name: str, nameserver: str, port: int, timeout_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.nameserver = f"{nameserver}:{port}"
        self._clock = clock
        self._resolver = dns.resolver.Resolver(configure=False)
        self._resolver.nameservers = [nameserver]
        self._resolver.port = port
        self._resolver.timeout = timeout_s
        self._resolver.lifetime = timeout_s
        self._resolver.cache = None  # our own cache keeps the answer for its TTL, exactly
        self._lock = threading.Lock()
        self._current: Resolution | None = None
        self.queries = 0

    def address(self) -> str:
        """The endpoint's address, from cache while its TTL lasts.

        Raises EndpointResolutionError when the server does not answer or has no A record.
        """
        return self.resolve().address

    def resolve(self) -> Resolution:
        with self._lock:
            current = self._current
            if current is not None and self._clock() < current.expires_at_s:
                return current
        # Queried outside the lock: a slow nameserver must not serialise every request behind it.
        fresh = self._query()
        with self._lock:
            self._current = fresh
        return fresh

    def cached(self) -> Resolution | None:
        """The last answer, even if expired (to tell whether a pooled connection went stale)."""
        with self._lock:
            return self._current

    def _query(self) -> Resolution:
        self.queries += 1
        with tracing.span("dns.resolve", attributes={"dns.question.name": self.name, "server.address": self.nameserver}):
            return self._ask()

    def _ask(self) -> Resolution:
        try:
            answer = self._resolver.resolve(self.name, "A", search=False)
        except dns.resolver.NXDOMAIN as error:
            raise EndpointResolutionError(f"database endpoint {self.name}: NXDOMAIN from {self.nameserver}") from error
        except dns.resolver.NoAnswer as error:
            raise EndpointResolutionError(f"database endpoint {self.name}: no A record at {self.nameserver}") from error
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as error:
            raise EndpointResolutionError(
                f"database endpoint {self.name}: nameserver {self.nameserver} did not answer ({error})") from error
        except dns.exception.DNSException as error:
            raise EndpointResolutionError(f"database endpoint {self.name}: {error}") from error
        ttl_s = answer.chaining_result.minimum_ttl
        return Resolution(str(answer[0].address), ttl_s, self._clock() + ttl_s)
