"""Which edge location is nearest a client network, from the environment's RTTs alone.

CloudFront answers a distribution's name with an edge near the viewer's resolver or its ECS subnet.
Locally the distance from a client to an edge is bounded below, for every Region r, by
|RTT(client, r) - RTT(edge, r)| (the triangle inequality); the nearest edge is the one whose largest
such bound is smallest. An edge beside a vantage point (same RTTs give or take a millisecond) wins
by construction, and no separate client-to-edge matrix has to be kept in step with the Region one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from environments.model import LocalEnvironment

# CloudFront's TTL for a distribution's domain name (dig d111111abcdef8.cloudfront.net: 60 s).
DISTRIBUTION_TTL_S = 60


@dataclass(frozen=True)
class EdgeLocation:
    code: str  # IAD, PDX, FRA, SIN
    address: str
    rtt_ms: Mapping[str, float]


def edge_locations(environment: LocalEnvironment) -> tuple[EdgeLocation, ...]:
    return tuple(EdgeLocation(code, edge.address, dict(edge.rtt_ms)) for code, edge in environment.edge_locations.items())


def _distance(client: Mapping[str, float], edge: EdgeLocation) -> float:
    shared = [r for r in client if r in edge.rtt_ms]
    if not shared:
        return float("inf")
    return max(abs(client[r] - edge.rtt_ms[r]) for r in shared)


def nearest(client_rtt_ms: Mapping[str, float], edges: tuple[EdgeLocation, ...]) -> EdgeLocation:
    """The edge nearest a client with these RTTs to the Regions; ties go to the edge declared first."""
    if not edges:
        raise ValueError("the environment declares no edge_locations")
    return min(edges, key=lambda e: (_distance(client_rtt_ms, e), edges.index(e)))


def nearest_by_network(environment: LocalEnvironment) -> dict[str, EdgeLocation]:
    """Client network name -> its nearest edge: every vantage point, and every Region's VPC (an instance asking)."""
    edges = edge_locations(environment)
    found = {name: nearest(vp.rtt_ms, edges) for name, vp in environment.vantage_points.items()}
    for region in environment.regions:
        row = {}
        for other in environment.regions:
            try:
                row[other] = environment.rtt_ms(region, other)
            except KeyError:
                continue
        found[region] = nearest(row, edges)
    return found
