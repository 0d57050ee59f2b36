"""Requests through a CloudFront distribution from each vantage point, as its users make them.

Each request resolves the distribution's name with the vantage point's ECS subnet (so it reaches the
edge location nearest that user), connects from the vantage point's address with the distribution's
name as ``Host``, and keeps what the edge said about itself: ``X-Cache`` (Hit, Miss, Error from
cloudfront), ``Age``, the edge's ``X-Amz-Cf-Pop``, and the Region of the origin that answered (checkout's
``X-Region``). Hit ratio and origin load are counted from these headers, never from the emulator.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from base.numbers import whole_number
from probes import checkout as checkout_probe
from probes.sampler import Sample, Sampler


@dataclass(frozen=True)
class EdgeResponse:
    address: str  # the edge location's address DNS gave this vantage point
    status: int
    latency_ms: float
    x_cache: str  # "Hit from cloudfront", "Miss from cloudfront", "Error from cloudfront", "" when absent
    age_s: int | None
    pop: str
    region: str  # checkout's X-Region: the origin's Region ("" for S3 assets)

    @property
    def hit(self) -> bool:
        return self.x_cache.lower().startswith("hit")

    @property
    def reached_origin(self) -> bool:
        """The edge asked an origin for this one (a miss, or an error the origin returned)."""
        return self.x_cache.lower().startswith(("miss", "error")) and self.status != 403


def client(domain_name: str, dns_server: str, dns_port: int, client_subnet: str | None, source_address: str | None,
           port: int, connect_timeout_s: float, read_timeout_s: float) -> checkout_probe.Client:
    """A client of the distribution for one vantage point (its ECS subnet and source address)."""
    resolver = checkout_probe.Resolver(domain_name, dns_server, dns_port, client_subnet)
    return checkout_probe.Client(resolver, port, source_address, connect_timeout_s, read_timeout_s)


def get(edge_client: checkout_probe.Client, path: str) -> EdgeResponse:
    started = time.monotonic()
    address, response = edge_client.request("GET", path)
    age = response.headers.get("Age")
    return EdgeResponse(address, response.status_code, (time.monotonic() - started) * 1000,
                        response.headers.get("X-Cache", ""), whole_number(age) if age else None,
                        response.headers.get("X-Amz-Cf-Pop", ""), response.headers.get("X-Region", ""))


def sampler(edge_client: checkout_probe.Client, vantage: str, kind: str, path: str, interval_s: float) -> Sampler[EdgeResponse]:
    """Samples named ``edge:<kind>``; ok when the edge answered 2xx."""
    return Sampler(f"edge:{kind}", vantage, lambda: get(edge_client, path), interval_s,
                   ok=lambda response: 200 <= response.status < 300)


@dataclass(frozen=True)
class CacheFigures:
    requests: int
    hits: int
    origin_requests: int

    @property
    def hit_ratio(self) -> float | None:
        return round(self.hits / self.requests, 4) if self.requests else None


def cache_figures(samples: Sequence[Sample[EdgeResponse]]) -> CacheFigures:
    """Hit ratio and origin load seen by the users: answered requests, hits, and requests that reached an origin."""
    answered = [s.value for s in samples if s.value is not None]
    return CacheFigures(len(answered), sum(r.hit for r in answered), sum(r.reached_origin for r in answered))
