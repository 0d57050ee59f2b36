"""One zone's lookup index, and the set of zones a server is authoritative for.

Indexes are built once when a zone changes, never per query. Names are keyed by their lower-cased
labels (a tuple of bytes), which hashes in C; ``dns.name.Name`` hashes label by label in Python.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import dns.name
import dns.rdatatype

from stack.local.route53.records import Policy, RecordSet

NameKey = tuple[bytes, ...]
WILDCARD = b"*"


def name_key(name: dns.name.Name) -> NameKey:
    return tuple(label.lower() for label in name.labels)


@dataclass(frozen=True)
class Group:
    """The records of one name and type: Route 53 chooses among them by their routing policy."""

    name: dns.name.Name
    rtype: dns.rdatatype.RdataType
    policy: Policy
    records: tuple[RecordSet, ...]
    # Orders derived per client network (latency ranking, geolocation chain), computed on first use:
    # a group never changes once built, and a query should not sort.
    orders: dict[str, tuple[RecordSet, ...]] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Zone:
    apex: dns.name.Name
    zone_id: str
    groups: Mapping[NameKey, Mapping[dns.rdatatype.RdataType, Group]]
    names: frozenset[NameKey]  # every name that exists, empty non-terminals included
    delegations: frozenset[NameKey]  # owners of NS records below the apex
    problems: tuple[str, ...] = ()  # records left out, and why

    @property
    def key(self) -> NameKey:
        return name_key(self.apex)

    @property
    def soa(self) -> Group | None:
        return self.groups.get(self.key, {}).get(dns.rdatatype.SOA)

    @classmethod
    def build(cls, apex: dns.name.Name, zone_id: str, records: Iterable[RecordSet]) -> "Zone":
        """Index a zone's record sets. Records outside the apex, or of a second routing policy, are left out."""
        apex_key = name_key(apex)
        by_owner: dict[tuple[NameKey, dns.rdatatype.RdataType], list[RecordSet]] = collections.defaultdict(list)
        problems: list[str] = []
        for record in records:
            key = name_key(record.name)
            if key[len(key) - len(apex_key):] != apex_key:
                problems.append(f"{record.name} {record.rtype.name}: outside zone {apex}")
                continue
            by_owner[(key, record.rtype)].append(record)
        groups: dict[NameKey, dict[dns.rdatatype.RdataType, Group]] = collections.defaultdict(dict)
        for (key, rtype), members in by_owner.items():
            policies = collections.Counter(r.policy for r in members)
            policy = policies.most_common(1)[0][0]
            if len(policies) > 1:
                # Route 53 rejects a second routing policy for one name and type; moto does not.
                problems.append(f"{members[0].name} {rtype.name}: mixes routing policies "
                                f"{sorted(p.value for p in policies)}; serving only {policy.value}")
            kept = tuple(r for r in members if r.policy is policy)
            groups[key][rtype] = Group(kept[0].name, rtype, policy, kept)
        names: set[NameKey] = set()
        for key in groups:
            # Every ancestor down to the apex exists too (empty non-terminals, RFC 4592 section 2.2.2).
            for cut in range(0, len(key) - len(apex_key) + 1):
                names.add(key[cut:])
        delegations = frozenset(k for k, types in groups.items() if k != apex_key and dns.rdatatype.NS in types)
        return cls(apex, zone_id, dict(groups), frozenset(names), delegations, tuple(problems))

    def node(self, key: NameKey) -> Mapping[dns.rdatatype.RdataType, Group] | None:
        return self.groups.get(key)

    def delegation_for(self, key: NameKey) -> NameKey | None:
        """The highest zone cut at or above ``key`` (below the apex), if any."""
        if not self.delegations:
            return None
        apex_len = len(self.key)
        for length in range(apex_len + 1, len(key) + 1):
            candidate = key[len(key) - length:]
            if candidate in self.delegations:
                return candidate
        return None

    def wildcard_for(self, key: NameKey) -> NameKey | None:
        """The wildcard that synthesises ``key`` when ``key`` does not exist (RFC 4592 closest encloser)."""
        for cut in range(1, len(key) - len(self.key) + 1):
            encloser = key[cut:]
            if encloser in self.names:
                source = (WILDCARD,) + encloser
                return source if source in self.groups else None
        return None


@dataclass(frozen=True)
class ZoneSet:
    """The zones one server answers for; a query goes to the zone with the longest matching apex."""

    zones: Mapping[NameKey, Zone] = field(default_factory=dict)

    @classmethod
    def of(cls, zones: Iterable[Zone]) -> "ZoneSet":
        return cls({zone.key: zone for zone in zones})

    def find(self, key: NameKey) -> Zone | None:
        for cut in range(0, len(key)):
            zone = self.zones.get(key[cut:])
            if zone is not None:
                return zone
        return None

    def group(self, key: NameKey, rtype: dns.rdatatype.RdataType) -> Group | None:
        zone = self.find(key)
        if zone is None:
            return None
        node = zone.node(key)
        return None if node is None else node.get(rtype)

    def __len__(self) -> int:
        return len(self.zones)
