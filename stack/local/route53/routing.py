"""The resolution engine: a query, the zones, health and the client's network in; the answer out. No I/O.

What it does beyond choosing within a group (``policy``):

- NXDOMAIN versus NODATA: a name that exists (with other types, or as an empty non-terminal) is NODATA;
  both carry the zone's SOA in the authority section, with the RFC 2308 negative TTL.
- CNAME: answered for any type the name lacks, then chased through every zone this server answers for
  (RFC 1034 4.3.2, at most 8 links); the rcode is the last name's (RFC 6604).
- Alias: answered with the target group's choice under the alias's own name and the target's TTL.
  A record is healthy when its own health check passes and, with EvaluateTargetHealth, when any
  record of its target group is healthy; so an unhealthy branch is skipped at the level above
  (the next-best Region, the SECONDARY, ...). An alias to a name outside the served zones (an ELB, a
  CloudFront distribution) cannot be judged here and counts as healthy.
- Wildcards (RFC 4592) and delegations below the apex (a referral without AA).
"""
from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Callable

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.CNAME

from stack.local.route53 import policy
from stack.local.route53.network import ClientNetwork
from stack.local.route53.records import Policy, RecordSet
from stack.local.route53.zone import Group, NameKey, Zone, ZoneSet, name_key

HealthOf = Callable[[str], bool]  # health check id -> healthy
MAX_CHAIN = 8  # CNAME links and alias hops followed before giving up


class Rcode(enum.Enum):
    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    REFUSED = "REFUSED"


@dataclass(frozen=True, slots=True)
class RRSet:
    """One rrset of an answer, before time scaling."""

    name: dns.name.Name
    rtype: dns.rdatatype.RdataType
    ttl_s: int
    rdatas: tuple[dns.rdata.Rdata, ...]
    wires: tuple[bytes, ...]  # the rdatas in wire format, same order


@dataclass(frozen=True, slots=True)
class Resolution:
    rcode: Rcode
    answer: tuple[RRSet, ...] = ()
    authority: tuple[RRSet, ...] = ()
    authoritative: bool = True  # False for a referral to a delegated child zone
    client_dependent: bool = False  # latency or geolocation decided it, so the ECS scope is the client's subnet
    zone: dns.name.Name | None = None
    randomized: bool = False  # a weighted or multivalue choice was drawn: the same query may get another answer

    @property
    def nodata(self) -> bool:
        return self.rcode is Rcode.NOERROR and not self.answer and self.authoritative


def resolve(
    zones: ZoneSet,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    health: HealthOf,
    network: ClientNetwork | None,
    rng: random.Random,
) -> Resolution:
    """Answer ``qname``/``qtype`` as Route 53 would for a client on ``network`` (None: unknown)."""
    return _Resolver(zones, health, network, rng).run(qname, qtype)


def negative_soa(zone: Zone) -> tuple[RRSet, ...]:
    """The SOA for a negative answer, with TTL min(SOA TTL, SOA MINIMUM) (RFC 2308 section 3)."""
    group = zone.soa
    if group is None:
        return ()
    record = group.records[0]
    ttl = min(record.ttl_s, *(getattr(r, "minimum", record.ttl_s) for r in record.rdatas))
    return (RRSet(zone.apex, dns.rdatatype.SOA, ttl, record.rdatas, record.wires),)


class _Resolver:
    def __init__(self, zones: ZoneSet, health: HealthOf, network: ClientNetwork | None, rng: random.Random) -> None:
        self.zones = zones
        self.health = health
        self.network = network
        self.rng = rng
        self.memo: dict[int, bool] = {}
        self.following: set[tuple[NameKey, int]] = set()
        self.client_dependent = False
        self.randomized = False

    def run(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> Resolution:
        key = name_key(qname)
        zone = self.zones.find(key)
        if zone is None:
            return Resolution(Rcode.REFUSED)
        answer: list[RRSet] = []
        rcode, authority, authoritative = self._lookup(zone, qname, key, qtype, answer, MAX_CHAIN)
        return Resolution(rcode, tuple(answer), authority, authoritative, self.client_dependent, zone.apex,
                          self.randomized)

    def _lookup(
        self, zone: Zone, qname: dns.name.Name, key: NameKey, qtype: dns.rdatatype.RdataType,
        answer: list[RRSet], links_left: int,
    ) -> tuple[Rcode, tuple[RRSet, ...], bool]:
        cut = zone.delegation_for(key)
        if cut is not None and not (cut == key and qtype == dns.rdatatype.DS):
            ns = zone.groups[cut][dns.rdatatype.NS].records[0]
            return Rcode.NOERROR, (RRSet(ns.name, dns.rdatatype.NS, ns.ttl_s, ns.rdatas, ns.wires),), False
        node = zone.node(key)
        if node is None:
            if key in zone.names:  # an empty non-terminal exists: NODATA
                return Rcode.NOERROR, negative_soa(zone), True
            source = zone.wildcard_for(key)
            if source is None:
                return Rcode.NXDOMAIN, negative_soa(zone), True
            node = zone.groups[source]
        if qtype == dns.rdatatype.ANY:
            for each in node.values():
                answer.extend(self._answer_group(each, qname, 0))
            return Rcode.NOERROR, () if answer else negative_soa(zone), True
        group = node.get(qtype)
        if group is not None:
            rrsets = self._answer_group(group, qname, 0)
            answer.extend(rrsets)
            return Rcode.NOERROR, () if rrsets else negative_soa(zone), True
        cname = node.get(dns.rdatatype.CNAME)
        if cname is None:
            return Rcode.NOERROR, negative_soa(zone), True
        rrsets = self._answer_group(cname, qname, 0)
        if not rrsets:
            return Rcode.NOERROR, negative_soa(zone), True
        answer.extend(rrsets)
        link = rrsets[-1].rdatas[0]
        if not isinstance(link, dns.rdtypes.ANY.CNAME.CNAME):  # a CNAME group holds CNAME rdata only
            return Rcode.NOERROR, (), True
        target = link.target
        target_key = name_key(target)
        target_zone = self.zones.find(target_key)
        if target_zone is None or links_left <= 0 or any(r.name == target for r in answer):
            return Rcode.NOERROR, (), True
        return self._lookup(target_zone, target, target_key, qtype, answer, links_left - 1)

    def _answer_group(self, group: Group, owner: dns.name.Name, depth: int) -> list[RRSet]:
        if group.policy in (Policy.LATENCY, Policy.GEOLOCATION, Policy.NETWORK):
            self.client_dependent = True
        elif group.policy in (Policy.WEIGHTED, Policy.MULTIVALUE) and len(group.records) > 1:
            self.randomized = True
        chosen = policy.choose(group, self.healthy, self.network, self.rng)
        plain = [r for r in chosen if r.alias is None]
        out: list[RRSet] = []
        if len(plain) == 1:
            record = plain[0]
            out.append(RRSet(owner, group.rtype, record.ttl_s, record.rdatas, record.wires))
        elif plain:
            # Multivalue: one rrset, without duplicates (keyed by wire form: hashing an Rdata is slow).
            unique = dict(pair for r in plain for pair in zip(r.wires, r.rdatas, strict=True))
            out.append(RRSet(owner, group.rtype, min(r.ttl_s for r in plain), tuple(unique.values()),
                             tuple(unique)))
        for record in chosen:
            if record.alias is not None:
                out.extend(self._follow_alias(record, owner, depth))
        return out

    def _follow_alias(self, record: RecordSet, owner: dns.name.Name, depth: int) -> list[RRSet]:
        assert record.alias is not None
        marker = (name_key(record.alias.dns_name), int(record.rtype))
        if depth >= MAX_CHAIN or marker in self.following:
            return []
        target = self.zones.group(marker[0], record.rtype)
        if target is None:
            return []
        self.following.add(marker)
        try:
            return self._answer_group(target, owner, depth + 1)
        finally:
            self.following.discard(marker)

    def healthy(self, record: RecordSet) -> bool:
        """A record's health: its own check, and with EvaluateTargetHealth, its target group's."""
        marker = id(record)
        known = self.memo.get(marker)
        if known is None:
            self.memo[marker] = False  # an alias loop back to this record counts as unhealthy
            known = self.memo[marker] = self._evaluate(record)
        return known

    def _evaluate(self, record: RecordSet) -> bool:
        if record.health_check_id and not self.health(record.health_check_id):
            return False
        alias = record.alias
        if alias is None or not alias.evaluate_target_health:
            return True
        key = name_key(alias.dns_name)
        target = self.zones.group(key, record.rtype)
        if target is None:
            # Outside the served zones (an AWS resource we do not model): healthy. Inside, but missing: no answer.
            return self.zones.find(key) is None
        return any(self.healthy(member) for member in target.records)
