"""Choosing records within one group by its routing policy (Route 53's documented routing policies).

Pure: health comes in as a function, the client's network as a value, randomness as a ``random.Random``.

Fail-open: when no record of a group is healthy, Route 53 treats them all as healthy and chooses by
policy; failover (both unhealthy: PRIMARY) and multivalue (all unhealthy: up to 8 unhealthy) are the
documented special cases, and both fall out of the same rule here.
"""
from __future__ import annotations

import random
from typing import Callable, Sequence

from stack.local.route53.network import ClientNetwork
from stack.local.route53.records import Policy, RecordSet
from stack.local.route53.zone import Group

Healthy = Callable[[RecordSet], bool]
MULTIVALUE_MAX = 8


def choose(group: Group, healthy: Healthy, network: ClientNetwork | None, rng: random.Random) -> tuple[RecordSet, ...]:
    """The records Route 53 answers with for this group; empty when geolocation matches nothing."""
    records = group.records
    policy = group.policy
    if policy is Policy.SIMPLE:
        # One record per name and type; it is never health checked, so there is nothing to choose.
        return records[:1]
    if policy is Policy.WEIGHTED:
        return (_weighted(records, healthy, rng),)
    if policy is Policy.LATENCY:
        return (_first_healthy(_memo(group, network, latency_order), healthy),)
    if policy is Policy.GEOLOCATION:
        chain = _memo(group, network, geolocation_chain)
        return (_first_healthy(chain, healthy),) if chain else ()
    if policy is Policy.FAILOVER:
        return (_failover(records, healthy),)
    if policy is Policy.NETWORK:
        return (_for_network(records, network),)
    return _multivalue(records, healthy, rng)


def _memo(group: Group, network: ClientNetwork | None,
          order: Callable[[Sequence[RecordSet], ClientNetwork | None], list[RecordSet]]) -> tuple[RecordSet, ...]:
    key = "" if network is None else network.name
    known = group.orders.get(key)
    if known is None:
        known = group.orders[key] = tuple(order(group.records, network))
    return known


def _first_healthy(ordered: Sequence[RecordSet], healthy: Healthy) -> RecordSet:
    for record in ordered:
        if healthy(record):
            return record
    return ordered[0]  # none healthy: fail open to the first choice


def _pick_by_weight(records: Sequence[RecordSet], rng: random.Random) -> RecordSet:
    total = sum(r.weight or 0 for r in records)
    point = rng.random() * total
    for record in records:
        point -= record.weight or 0
        if point < 0:
            return record
    return records[-1]


def _weighted(records: Sequence[RecordSet], healthy: Healthy, rng: random.Random) -> RecordSet:
    nonzero = [r for r in records if r.weight]
    live = [r for r in nonzero if healthy(r)]
    if live:
        return _pick_by_weight(live, rng)
    # Weight-0 records serve only when no non-zero record is healthy, all equally likely; this is also
    # the "every weight is 0" case.
    zero_live = [r for r in records if not r.weight and healthy(r)]
    if zero_live:
        return rng.choice(zero_live)
    return _pick_by_weight(nonzero, rng) if nonzero else rng.choice(list(records))


def latency_order(records: Sequence[RecordSet], network: ClientNetwork | None) -> list[RecordSet]:
    """Records nearest first.

    Regions the client network has no RTT for come after those it has, by Region name. An unknown
    network ranks every Region by name: deterministic, so a probe from nowhere always gets the same
    answer, and documented, since AWS does not say what it does without a location.
    """
    ranking = network.region_ranking if network is not None else ()
    position = {region: i for i, region in enumerate(ranking)}
    return sorted(records, key=lambda r: (position.get(r.region, len(position)), r.region, r.set_identifier))


def geolocation_chain(records: Sequence[RecordSet], network: ClientNetwork | None) -> list[RecordSet]:
    """Matching records, most specific first: subdivision, country, continent, then the default record."""
    location = network.location if network is not None else None
    subdivision, country, continent, default = [], [], [], []
    for record in records:
        geo = record.geolocation
        if geo is None:
            continue
        if geo.is_default:
            default.append(record)
        elif location is None:
            continue
        elif geo.subdivision_code:
            if geo.country_code == location.country and geo.subdivision_code == location.subdivision:
                subdivision.append(record)
        elif geo.country_code:
            if geo.country_code == location.country:
                country.append(record)
        elif geo.continent_code and geo.continent_code == location.continent:
            continent.append(record)
    return subdivision + country + continent + default


def _for_network(records: Sequence[RecordSet], network: ClientNetwork | None) -> RecordSet:
    """The record naming the client's network, else the default ("*"), else the first."""
    name = network.name if network is not None else None
    default = records[0]
    for record in records:
        if name is not None and name in record.client_networks:
            return record
        if "*" in record.client_networks:
            default = record
    return default


def _failover(records: Sequence[RecordSet], healthy: Healthy) -> RecordSet:
    primary = next((r for r in records if r.failover == "PRIMARY"), None)
    secondary = next((r for r in records if r.failover == "SECONDARY"), None)
    if primary is not None and healthy(primary):
        return primary
    if secondary is not None and healthy(secondary):
        return secondary
    # Both unhealthy: Route 53 answers with the PRIMARY.
    return primary if primary is not None else records[0]


def _multivalue(records: Sequence[RecordSet], healthy: Healthy, rng: random.Random) -> tuple[RecordSet, ...]:
    live = [r for r in records if healthy(r)]
    pool = live or list(records)  # all unhealthy: answer with up to 8 unhealthy ones
    return tuple(rng.sample(pool, min(len(pool), MULTIVALUE_MAX)))
