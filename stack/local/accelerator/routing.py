"""Which endpoint a standard accelerator sends one client connection to (pure: no I/O).

As AWS documents it (Global Accelerator developer guide, "Traffic dials" and "How failover works for
unhealthy endpoints"):

1. the endpoint groups are ranked by the client's RTT to their Region; the traffic dial of a group
   keeps that percentage of the traffic that would go to it, the rest goes on to the next group;
2. within the chosen group, an endpoint is picked in proportion to its weight among the healthy
   endpoints with a weight above zero;
3. when the chosen group has none, three more groups, closest first, are tried in order, ignoring
   their dials ("tries three additional endpoint groups");
4. when none of them has one either, the accelerator fails open: a random endpoint of the group
   closest to the client.

Client affinity ``SOURCE_IP`` draws from the client's address alone, so one client keeps its
endpoint while health and configuration stay the same; ``NONE`` draws anew per connection.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

FAILOVER_GROUPS = 3  # AWS: "tries three additional endpoint groups to find a healthy endpoint"


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    address: str  # the instance's private address (empty: not known yet, never chosen)
    weight: int


@dataclass(frozen=True)
class HealthSettings:
    protocol: str  # TCP, HTTP or HTTPS
    port: int
    path: str
    interval_s: float  # AWS seconds
    threshold: int


@dataclass(frozen=True)
class Group:
    arn: str
    region: str
    dial: float  # 0..100
    endpoints: tuple[Endpoint, ...]
    health: HealthSettings
    port_overrides: tuple[tuple[int, int], ...] = ()  # (listener port, endpoint port): hashable, as a task key

    def endpoint_port(self, listener_port: int) -> int:
        return dict(self.port_overrides).get(listener_port, listener_port)


@dataclass(frozen=True)
class Listener:
    arn: str
    accelerator: str
    addresses: tuple[str, ...]  # the accelerator's static addresses
    ports: tuple[int, ...]
    affinity: str  # NONE or SOURCE_IP
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Choice:
    group: Group
    endpoint: Endpoint
    how: str  # "nearest", "dial", "failover" or "fail-open"


Healthy = Callable[[str, str], bool]  # (group ARN, endpoint id) -> routable


def _draws(affinity: str, client: str, rng: random.Random) -> tuple[float, float]:
    if affinity == "SOURCE_IP":
        digest = hashlib.sha256(client.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2 ** 64, int.from_bytes(digest[8:16], "big") / 2 ** 64
    return rng.random(), rng.random()


def _weighted(endpoints: Sequence[Endpoint], draw: float) -> Endpoint:
    total = sum(e.weight for e in endpoints)
    mark = draw * total
    for endpoint in endpoints:
        mark -= endpoint.weight
        if mark < 0:
            return endpoint
    return endpoints[-1]


def ranked(groups: Sequence[Group], rtt_ms: Mapping[str, float]) -> list[Group]:
    """The groups nearest first; a Region the client has no RTT to comes last, in the given order."""
    order = {g.arn: i for i, g in enumerate(groups)}
    return sorted(groups, key=lambda g: (rtt_ms.get(g.region, float("inf")), order[g.arn]))


def choose(listener: Listener, client: str, rtt_ms: Mapping[str, float], healthy: Healthy,
           rng: random.Random | None = None) -> Choice | None:
    """The endpoint for a connection from ``client``; None when the listener has no endpoint at all."""
    groups = [g for g in ranked(listener.groups, rtt_ms) if any(e.address for e in g.endpoints)]
    if not groups:
        return None
    dial_draw, weight_draw = _draws(listener.affinity, client, rng or random.Random())
    original, how = None, "nearest"
    # The dials: each group keeps dial% of what reaches it; what is left goes on to the next.
    left = 1.0
    for group in groups:
        kept = left * group.dial / 100.0
        if dial_draw < 1.0 - left + kept:
            original = group
            break
        left -= kept
        how = "dial"
    if original is None:  # every dial let this connection pass: the nearest group that takes any traffic
        original = next((g for g in groups if g.dial > 0), groups[0])
    candidates = [original] + [g for g in groups if g is not original][:FAILOVER_GROUPS]
    for index, group in enumerate(candidates):
        usable = [e for e in group.endpoints if e.address and e.weight > 0 and healthy(group.arn, e.endpoint_id)]
        if usable:
            return Choice(group, _weighted(usable, weight_draw), how if index == 0 else "failover")
    nearest = groups[0]  # fail open
    known = [e for e in nearest.endpoints if e.address]
    return Choice(nearest, known[int(weight_draw * len(known)) % len(known)], "fail-open")
