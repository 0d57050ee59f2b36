"""Network ACLs as AWS evaluates them: pure functions over the DescribeNetworkAcls shape, no I/O.

A NACL is stateless. A packet from A to B is checked against A's subnet's *outbound* rules and
B's subnet's *inbound* rules; the reply B -> A is a packet of its own, checked against B's
outbound and A's inbound rules with the ports swapped. In both rule sets the port range is the
packet's *destination* port. Rules are taken in ascending RuleNumber order, the first match
decides, and the implicit last rule ``*`` denies. Traffic within one subnet is never filtered,
and an address outside every subnet has no rules of its own.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from stack.local.fabric.errors import FabricCommandError

TCP = "6"
UDP = "17"
ALL_PROTOCOLS = "-1"
# DescribeNetworkAcls shows the implicit `*` deny as an entry with this number.
IMPLICIT_RULE_NUMBER = 32767
_PROTOCOL_NAMES = {"tcp": TCP, "udp": UDP, "icmp": "1", "all": ALL_PROTOCOLS}
# AWS ignores the port range for every protocol but TCP and UDP.
_PORTED = frozenset({TCP, UDP})


def _protocol(value: object) -> str:
    text = str(value).strip().lower()
    return _PROTOCOL_NAMES.get(text, text)


@dataclass(frozen=True)
class Rule:
    """One NACL entry."""

    number: int
    protocol: str  # "-1" (all) or an IP protocol number as text
    allow: bool
    egress: bool
    network: ipaddress.IPv4Network | None  # None: an IPv6 rule, which never matches an IPv4 packet
    port_from: int | None = None
    port_to: int | None = None
    # The network as integers: re-gating every open flow on a NACL change runs this match
    # thousands of times, and ``address in network`` costs microseconds each.
    _base: int = field(default=-1, init=False, repr=False, compare=False)
    _mask: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.network is not None:
            object.__setattr__(self, "_base", int(self.network.network_address))
            object.__setattr__(self, "_mask", int(self.network.netmask))

    @property
    def label(self) -> str:
        return "*" if self.number >= IMPLICIT_RULE_NUMBER else str(self.number)

    def matches(self, peer: ipaddress.IPv4Address, port: int, protocol: str) -> bool:
        """Whether the rule applies to a packet whose other end is ``peer`` and destination port ``port``."""
        if int(peer) & self._mask != self._base:
            return False
        if self.protocol != ALL_PROTOCOLS and self.protocol != protocol:
            return False
        if self.protocol in _PORTED and self.port_from is not None:
            upper = self.port_to if self.port_to is not None else self.port_from
            return self.port_from <= port <= upper
        return True

    @classmethod
    def from_aws(cls, entry: Mapping[str, Any]) -> "Rule":
        """Parse one ``Entries`` item. Raises FabricCommandError naming the bad field."""
        try:
            cidr = entry.get("CidrBlock")
            ports = entry.get("PortRange") or {}
            return cls(
                number=int(entry["RuleNumber"]),
                protocol=_protocol(entry.get("Protocol", ALL_PROTOCOLS)),
                allow=str(entry["RuleAction"]).lower() == "allow",
                egress=bool(entry["Egress"]),
                network=ipaddress.IPv4Network(cidr, strict=False) if cidr else None,
                port_from=int(ports["From"]) if "From" in ports else None,
                port_to=int(ports["To"]) if "To" in ports else None,
            )
        except (KeyError, ValueError, TypeError) as error:
            raise FabricCommandError(
                f"NACL entry {dict(entry)!r}: {error!r}; expected RuleNumber, RuleAction, Egress and an IPv4 CidrBlock"
            ) from None


@dataclass(frozen=True)
class SkippedEntry:
    """A NACL entry the fabric could not parse, and so does not enforce."""

    acl_id: str
    entry: Mapping[str, Any]  # as DescribeNetworkAcls gave it
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"acl_id": self.acl_id, "entry": dict(self.entry), "reason": self.reason}


@dataclass(frozen=True)
class Decision:
    """What one NACL said about one packet direction, and why."""

    allowed: bool
    acl_id: str = ""
    subnet_id: str = ""
    egress: bool = False
    rule: str = ""  # the rule number that decided, "*" for the implicit deny, "" when no NACL applied
    note: str = ""

    @property
    def reason(self) -> str:
        if self.note:
            return self.note
        side = "outbound" if self.egress else "inbound"
        verdict = "allow" if self.allowed else "deny"
        return f"{self.acl_id} ({self.subnet_id}) {side} rule {self.rule}: {verdict}"

    def as_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "acl_id": self.acl_id, "subnet_id": self.subnet_id,
                "direction": "outbound" if self.egress else "inbound", "rule": self.rule, "reason": self.reason}


@dataclass(frozen=True)
class Acl:
    acl_id: str
    inbound: tuple[Rule, ...]
    outbound: tuple[Rule, ...]
    # Decisions are immutable and few (one per rule and subnet): made once, not once per packet flow.
    _decisions: dict[tuple[str, bool, str, bool], Decision] = field(default_factory=dict, repr=False, compare=False)

    def decide(self, subnet_id: str, egress: bool, peer: ipaddress.IPv4Address, port: int, protocol: str) -> Decision:
        """First matching rule in RuleNumber order; no match is the implicit ``*`` deny."""
        allow, label = False, "*"
        for rule in self.outbound if egress else self.inbound:
            if rule.matches(peer, port, protocol):
                allow, label = rule.allow, rule.label
                break
        key = (subnet_id, egress, label, allow)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = Decision(allow, self.acl_id, subnet_id, egress, label)
        return decision

    @classmethod
    def from_aws(cls, network_acl: Mapping[str, Any], skipped: list["SkippedEntry"] | None = None) -> "Acl":
        """Parse one ``NetworkAcls`` item.

        With ``skipped``, an entry that cannot be parsed is left out and recorded there, so the
        NACL's other rules still apply; without it, such an entry raises FabricCommandError.
        """
        acl_id = str(network_acl.get("NetworkAclId", ""))
        rules = []
        for entry in network_acl.get("Entries", []):
            try:
                rules.append(Rule.from_aws(entry))
            except FabricCommandError as error:
                if skipped is None:
                    raise
                skipped.append(SkippedEntry(acl_id, dict(entry), str(error)))
        rules.sort(key=lambda r: r.number)
        return cls(
            acl_id=acl_id,
            inbound=tuple(r for r in rules if not r.egress),
            outbound=tuple(r for r in rules if r.egress),
        )


@dataclass(frozen=True)
class PacketEnd:
    """One end of a packet: its address, and its subnet (None outside every VPC subnet)."""

    address: ipaddress.IPv4Address
    subnet_id: str | None = None


@dataclass(frozen=True)
class AclTable:
    """Which NACL each subnet is associated with."""

    by_subnet: Mapping[str, Acl]

    @classmethod
    def empty(cls) -> "AclTable":
        return cls({})

    @classmethod
    def from_aws(cls, network_acls: Iterable[Mapping[str, Any]],
                 skipped: list["SkippedEntry"] | None = None) -> "AclTable":
        """Build from the ``NetworkAcls`` list of ``ec2.describe_network_acls()`` (one or several Regions).

        An entry that cannot be parsed is left out and recorded in ``skipped`` when it is given
        (Acl.from_aws), and raises otherwise. Raises FabricCommandError when a subnet has two NACLs.
        """
        by_subnet: dict[str, Acl] = {}
        for item in network_acls:
            acl = Acl.from_aws(item, skipped)
            for association in item.get("Associations", []):
                subnet_id = association.get("SubnetId")
                if not subnet_id:
                    continue
                if subnet_id in by_subnet and by_subnet[subnet_id].acl_id != acl.acl_id:
                    raise FabricCommandError(
                        f"subnet {subnet_id} is associated with both {by_subnet[subnet_id].acl_id} and {acl.acl_id};"
                        " a subnet has exactly one NACL"
                    )
                by_subnet[subnet_id] = acl
        return cls(by_subnet)

    def side(self, subnet_id: str | None, egress: bool, peer: ipaddress.IPv4Address, port: int,
             protocol: str) -> Decision:
        """One subnet's verdict on a packet leaving it (egress) or entering it."""
        if subnet_id is None:
            return Decision(True, note="outside every VPC subnet: no NACL")
        acl = self.by_subnet.get(subnet_id)
        if acl is None:
            return Decision(True, subnet_id=subnet_id, egress=egress, note=f"{subnet_id}: no NACL known")
        return acl.decide(subnet_id, egress, peer, port, protocol)

    def check(self, source: PacketEnd, destination: PacketEnd, port: int, protocol: str = TCP) -> Decision:
        """A packet from ``source`` to ``destination``'s ``port``: source outbound, then destination inbound.

        Returns the first denying decision, or the destination's allowing one.
        """
        if source.subnet_id is not None and source.subnet_id == destination.subnet_id:
            return Decision(True, subnet_id=source.subnet_id, note=f"within {source.subnet_id}: not filtered")
        leaving = self.side(source.subnet_id, True, destination.address, port, protocol)
        if not leaving.allowed:
            return leaving
        return self.side(destination.subnet_id, False, source.address, port, protocol)
