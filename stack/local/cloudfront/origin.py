"""Fetching from a distribution's origins, with origin-group failover, as an edge location does.

A custom origin is reached over HTTP: its domain name is resolved at the local DNS server (the edge
is a DNS client like any other) and the connection leaves from the edge's own address, so the fabric
delays it by the edge's RTT to the origin's Region and applies the Region's network ACLs. Each try
connects up to ``ConnectionAttempts`` times, each within ``ConnectionTimeout``, and waits at most
``OriginReadTimeout`` for the response (all AWS seconds, scaled). An S3 origin is read through the
S3 API of the local endpoint (CloudFront signs its requests to S3 too), after the edge's RTT to the
bucket's Region, since the endpoint is not behind the fabric.

An origin group moves on to its next member on a failover status code and on a connection failure
or timeout, for GET, HEAD and OPTIONS only (developer guide, "Optimizing high availability with
CloudFront origin failover"); every request starts at the primary again.
"""
from __future__ import annotations

import asyncio
import re
import socket
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import dns.asyncquery
import dns.exception
import dns.message
import dns.rdatatype

from base.numbers import whole_number
from base.timescale import TimeScale
from stack.local.cloudfront.distribution import Origin

FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONNECT_FLOOR_S = 0.5  # wall seconds: a busy shared host must not fail a healthy origin's handshake
READ_FLOOR_S = 5.0  # wall seconds: checkout on a loaded shared host (load average 40 on 2 cores) took 2-4 s
DNS_TIMEOUT_S = 2.0
# Hop-by-hop headers (RFC 9110 7.6.1) are never passed on; the edge writes its own framing.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "content-length"})
_S3_DOMAIN = re.compile(r"^(?P<bucket>[^.]+(?:\.[^.]+)*?)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")


class OriginFailure(Exception):
    """No response from an origin: every connection attempt failed, or the response timed out."""

    def __init__(self, origin: str, reason: str, timed_out: bool) -> None:
        super().__init__(f"origin {origin}: {reason}")
        self.timed_out = timed_out


@dataclass(frozen=True)
class OriginResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    origin_id: str
    tried: tuple[str, ...] = ()  # the origins asked, in order (a failover asked more than one)


@dataclass
class OriginStats:
    """Requests each origin received (by id), for the origin-load figure."""

    requests: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    failovers: int = 0
    last_failure: dict[str, str] = field(default_factory=dict)  # origin id -> why its latest failure happened

    def as_json(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "failures": dict(self.failures), "failovers": self.failovers,
                "last_failure": dict(self.last_failure)}


def s3_location(domain: str) -> tuple[str, str]:
    """(bucket, Region) of an S3 origin's domain name (bucket.s3.amazonaws.com, bucket.s3.us-west-2.amazonaws.com)."""
    match = _S3_DOMAIN.match(domain.lower())
    if match is None:
        raise ValueError(f"origin domain {domain!r} is not an S3 bucket's REST endpoint (bucket.s3[.region].amazonaws.com)")
    region = match.group("region") or "us-east-1"
    return match.group("bucket"), "us-east-1" if region in ("external-1", "") else region


class Resolver:
    """A stub resolver asking the local DNS server, caching answers for their (already scaled) TTL."""

    def __init__(self, server: tuple[str, int], clock: Callable[[], float] = time.monotonic) -> None:
        self._server = server
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}

    async def addresses(self, name: str) -> tuple[str, ...]:
        cached = self._cache.get(name)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        query = dns.message.make_query(name, dns.rdatatype.A)
        try:
            answer = await dns.asyncquery.udp(query, self._server[0], timeout=DNS_TIMEOUT_S, port=self._server[1])
        except (dns.exception.DNSException, OSError) as error:
            raise OriginFailure(name, f"DNS lookup failed: {error}", timed_out=False) from None
        found, ttl = [], 60
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.A:
                found += [rd.address for rd in rrset]
                ttl = min(ttl, rrset.ttl)
        if not found:
            raise OriginFailure(name, "DNS has no A record for it", timed_out=False)
        self._cache[name] = (self._clock() + ttl, tuple(found))
        return tuple(found)


class OriginClient:
    """Fetches from origins for one edge location (its source address and its RTTs)."""

    def __init__(self, source_address: str, rtt_ms: Mapping[str, float], timescale: TimeScale, resolver: Resolver,
                 s3_get: Callable[[str, str, str], tuple[int, list[tuple[str, str]], bytes]], executor: Executor,
                 connect_floor_s: float = CONNECT_FLOOR_S) -> None:
        self.source_address = source_address
        self._connect_floor_s = connect_floor_s
        self._rtt_ms = rtt_ms
        self._timescale = timescale
        self._resolver = resolver
        self._s3_get = s3_get
        self._executor = executor
        self.stats = OriginStats()

    async def fetch(self, origins: Sequence[Origin], failover_statuses: frozenset[int], method: str, path: str,
                    query: str, headers: Sequence[tuple[str, str]], body: bytes) -> OriginResponse:
        """The response of the first origin that answers without a failover status. Raises OriginFailure
        when the last one tried did not answer."""
        tried: list[str] = []
        may_fail_over = method in FAILOVER_METHODS
        for index, origin in enumerate(origins):
            last = index == len(origins) - 1 or not may_fail_over
            tried.append(origin.id)
            self.stats.requests[origin.id] = self.stats.requests.get(origin.id, 0) + 1
            try:
                status, got, content = await (self._s3(origin, method, path) if origin.s3 else
                                              self._http(origin, method, path, query, headers, body))
            except OriginFailure as error:
                self.stats.failures[origin.id] = self.stats.failures.get(origin.id, 0) + 1
                self.stats.last_failure[origin.id] = str(error)
                if last:
                    raise
                self.stats.failovers += 1
                continue
            if status in failover_statuses and not last:
                self.stats.failovers += 1
                continue
            return OriginResponse(status, tuple(got), content, origin.id, tuple(tried))
        raise AssertionError("unreachable: the last origin returns or raises")

    async def _s3(self, origin: Origin, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        bucket, region = s3_location(origin.domain_name)
        await asyncio.sleep(self._rtt_ms.get(region, 0.0) / 1000.0)  # network delay: never scaled
        key = (origin.path.strip("/") + "/" + path.lstrip("/")).lstrip("/") if origin.path else path.lstrip("/")
        loop = asyncio.get_running_loop()
        try:
            status, got, content = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._s3_get, bucket, key, method),
                self._timescale.timeout(origin.read_timeout_s, READ_FLOOR_S))
        except asyncio.TimeoutError:
            raise OriginFailure(origin.id, "S3 did not answer within the response timeout", timed_out=True) from None
        return status, got, content

    async def _http(self, origin: Origin, method: str, path: str, query: str, headers: Sequence[tuple[str, str]],
                    body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connect_s = self._timescale.timeout(origin.connection_timeout_s, self._connect_floor_s)
        read_s = self._timescale.timeout(origin.read_timeout_s, READ_FLOOR_S)
        reasons: list[str] = []
        timed_out = False
        target = origin.path.rstrip("/") + path + (f"?{query}" if query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.domain_name}"]
        lines += [f"{n}: {v}" for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() != "host"]
        lines += [f"{n}: {v}" for n, v in origin.custom_headers]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        request = "\r\n".join(lines).encode("latin-1") + body
        for attempt in range(origin.connection_attempts):
            try:
                addresses = await self._resolver.addresses(origin.domain_name)
                address = addresses[attempt % len(addresses)]
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    address, origin.http_port, local_addr=(self.source_address, 0), family=socket.AF_INET), connect_s)
            except asyncio.TimeoutError:
                timed_out = True
                reasons.append(f"attempt {attempt + 1}: no connection within {origin.connection_timeout_s:g} s")
                continue
            except OSError as error:
                reasons.append(f"attempt {attempt + 1}: {error.strerror or error}")
                continue
            except OriginFailure as error:
                reasons.append(f"attempt {attempt + 1}: {error}")
                continue
            try:
                writer.write(request)
                raw = await asyncio.wait_for(reader.read(-1), read_s)  # Connection: close ends the response
            except asyncio.TimeoutError:
                raise OriginFailure(origin.id, f"no response within the response timeout ({origin.read_timeout_s:g} s)",
                                    timed_out=True) from None
            except OSError as error:
                reasons.append(f"attempt {attempt + 1}: {error.strerror or error}")
                continue
            finally:
                writer.close()
            try:
                return parse_response(raw)
            except ValueError as error:
                raise OriginFailure(origin.id, f"a malformed response: {error}", timed_out=False) from None
        raise OriginFailure(origin.id, "; ".join(reasons) or "no connection attempt", timed_out=timed_out)


def parse_response(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """An HTTP/1.1 response read to the end of the connection. Raises ValueError when it is not one."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("the connection closed before the end of the headers")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or whole_number(parts[1]) is None:
        raise ValueError(f"status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    lowered = {n.lower(): v for n, v in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        rest = _dechunk(rest)
    elif "content-length" in lowered:
        length = int(lowered["content-length"])
        if len(rest) < length:
            raise ValueError(f"the body ended after {len(rest)} of {length} bytes")
        rest = rest[:length]
    return int(parts[1]), [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP], rest


def _dechunk(data: bytes) -> bytes:
    out, position = bytearray(), 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            raise ValueError("a chunk size line is cut short")
        size = int(data[position:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2:end + 2 + size]
        position = end + 2 + size + 2
