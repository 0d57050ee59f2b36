"""The NACL evaluation table: AWS's rules, one case per line."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from stack.local.fabric.acl import AclTable, PacketEnd, Rule, SkippedEntry
from stack.local.fabric.errors import FabricCommandError

A, B, C = "subnet-a", "subnet-b", "subnet-c"
A_HOST = PacketEnd(ipaddress.IPv4Address("127.16.1.10"), A)
A_OTHER = PacketEnd(ipaddress.IPv4Address("127.16.1.11"), A)
B_HOST = PacketEnd(ipaddress.IPv4Address("127.16.2.10"), B)
C_HOST = PacketEnd(ipaddress.IPv4Address("127.17.1.10"), C)
VANTAGE = PacketEnd(ipaddress.IPv4Address("127.200.1.10"), None)


def entry(number: int, action: str, egress: bool, cidr: str = "0.0.0.0/0", protocol: str = "-1",
          ports: tuple[int, int] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"RuleNumber": number, "Protocol": protocol, "RuleAction": action, "Egress": egress,
                            "CidrBlock": cidr}
    if ports is not None:
        item["PortRange"] = {"From": ports[0], "To": ports[1]}
    return item


# moto's (and AWS's) default NACL, with the implicit rule shown as 32767.
DEFAULT = [entry(100, "allow", True), entry(32767, "deny", True), entry(100, "allow", False), entry(32767, "deny", False)]


def table(**acls: list[dict[str, Any]]) -> AclTable:
    """``table(a=[entries], b=...)``: one NACL per subnet; a subnet not named gets the default NACL."""
    named = {A: acls.get("a", DEFAULT), B: acls.get("b", DEFAULT), C: acls.get("c", DEFAULT)}
    return AclTable.from_aws([
        {"NetworkAclId": f"acl-{subnet[-1]}", "Entries": entries,
         "Associations": [{"NetworkAclAssociationId": f"aclassoc-{subnet[-1]}", "SubnetId": subnet}]}
        for subnet, entries in named.items()
    ])


DENY_ALL_IN = [entry(1, "deny", False)] + DEFAULT
DENY_ALL_OUT = [entry(1, "deny", True)] + DEFAULT

# (id, table, source, destination, destination port, protocol, allowed, deciding acl, direction, rule)
CASES = [
    ("default NACLs allow", table(), A_HOST, B_HOST, 5432, "6", True, "acl-b", "inbound", "100"),
    ("custom NACL with no rules denies by *", table(b=[]), A_HOST, B_HOST, 5432, "6", False, "acl-b", "inbound", "*"),
    ("empty NACL on the source denies outbound", table(a=[]), A_HOST, B_HOST, 5432, "6", False, "acl-a", "outbound", "*"),
    ("lowest rule number wins: deny 10 before allow 100", table(b=[entry(10, "deny", False)] + DEFAULT),
     A_HOST, B_HOST, 80, "6", False, "acl-b", "inbound", "10"),
    ("allow before deny wins", table(b=[entry(10, "allow", False), entry(20, "deny", False)]),
     A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "10"),
    ("entries are sorted, not taken in list order",
     table(b=[entry(200, "deny", False), entry(50, "allow", False, cidr="127.16.1.0/24")]),
     A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "50"),
    ("CIDR that does not hold the peer is skipped", table(b=[entry(10, "deny", False, cidr="127.17.0.0/16")] + DEFAULT),
     A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "100"),
    ("CIDR that holds the peer applies", table(b=[entry(10, "deny", False, cidr="127.16.1.0/24")] + DEFAULT),
     A_HOST, B_HOST, 80, "6", False, "acl-b", "inbound", "10"),
    ("port inside the range", table(b=[entry(10, "deny", False, protocol="6", ports=(5000, 5500))] + DEFAULT),
     A_HOST, B_HOST, 5432, "6", False, "acl-b", "inbound", "10"),
    ("port at the range's upper bound", table(b=[entry(10, "deny", False, protocol="6", ports=(5000, 5432))] + DEFAULT),
     A_HOST, B_HOST, 5432, "6", False, "acl-b", "inbound", "10"),
    ("port outside the range", table(b=[entry(10, "deny", False, protocol="6", ports=(5000, 5431))] + DEFAULT),
     A_HOST, B_HOST, 5432, "6", True, "acl-b", "inbound", "100"),
    ("UDP rule does not match TCP", table(b=[entry(10, "deny", False, protocol="17")] + DEFAULT),
     A_HOST, B_HOST, 53, "6", True, "acl-b", "inbound", "100"),
    ("protocol name tcp is protocol 6", table(b=[entry(10, "deny", False, protocol="tcp", ports=(80, 80))] + DEFAULT),
     A_HOST, B_HOST, 80, "6", False, "acl-b", "inbound", "10"),
    ("egress rule does not filter ingress", table(b=DENY_ALL_OUT), A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "100"),
    ("ingress rule does not filter egress", table(a=DENY_ALL_IN), A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "100"),
    ("source outbound is checked first", table(a=DENY_ALL_OUT, b=DENY_ALL_IN), A_HOST, B_HOST, 80, "6", False,
     "acl-a", "outbound", "1"),
    ("reply direction checks the ephemeral port", table(a=[entry(10, "allow", False, protocol="6", ports=(1024, 65535))]
                                                         + [entry(100, "allow", True)]),
     B_HOST, A_HOST, 40000, "6", True, "acl-a", "inbound", "10"),
    ("reply to a low port falls to *", table(a=[entry(10, "allow", False, protocol="6", ports=(1024, 65535))]
                                            + [entry(100, "allow", True)]),
     B_HOST, A_HOST, 80, "6", False, "acl-a", "inbound", "*"),
    ("within one subnet is not filtered", table(a=[]), A_HOST, A_OTHER, 80, "6", True, "", "", ""),
    ("outside every subnet faces only the destination inbound", table(b=DENY_ALL_IN), VANTAGE, B_HOST, 80, "6", False,
     "acl-b", "inbound", "1"),
    ("outside every subnet: reply faces the destination outbound", table(b=DENY_ALL_OUT), B_HOST, VANTAGE, 40000, "6",
     False, "acl-b", "outbound", "1"),
    ("vantage point allowed by the default NACL", table(), VANTAGE, B_HOST, 8080, "6", True, "acl-b", "inbound", "100"),
    ("IPv6 rule never matches IPv4", table(b=[{"RuleNumber": 10, "Protocol": "-1", "RuleAction": "deny", "Egress": False,
                                              "Ipv6CidrBlock": "::/0"}] + DEFAULT),
     A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "100"),
    ("isolating one subnet leaves the others", table(a=[]), B_HOST, C_HOST, 80, "6", True, "acl-c", "inbound", "100"),
    ("restored: the default NACL allows again", table(a=DEFAULT), A_HOST, B_HOST, 80, "6", True, "acl-b", "inbound", "100"),
]


@pytest.mark.parametrize(("case", "acls", "source", "destination", "port", "protocol", "allowed", "acl_id",
                          "direction", "rule"), CASES, ids=[c[0] for c in CASES])
def test_nacl_table(case: str, acls: AclTable, source: PacketEnd, destination: PacketEnd, port: int, protocol: str,
                    allowed: bool, acl_id: str, direction: str, rule: str) -> None:
    decision = acls.check(source, destination, port, protocol)
    assert decision.allowed is allowed, f"{case}: {decision.reason}"
    assert (decision.acl_id, decision.rule) == (acl_id, rule), f"{case}: {decision.reason}"
    if acl_id:
        assert decision.as_json()["direction"] == direction


def test_restore_sequence_cut_then_restore() -> None:
    cut = table(a=[]).check(A_HOST, B_HOST, 80)
    restored = table().check(A_HOST, B_HOST, 80)
    assert (cut.allowed, restored.allowed) == (False, True)
    assert "acl-a (subnet-a) outbound rule *: deny" == cut.reason


def test_subnet_without_known_nacl_is_not_filtered() -> None:
    decision = AclTable.empty().check(A_HOST, B_HOST, 80)
    assert decision.allowed and "no NACL" in decision.reason


def test_two_nacls_for_one_subnet_is_rejected() -> None:
    assoc = [{"SubnetId": A}]
    with pytest.raises(FabricCommandError, match="subnet-a is associated with both acl-1 and acl-2"):
        AclTable.from_aws([{"NetworkAclId": "acl-1", "Entries": [], "Associations": assoc},
                           {"NetworkAclId": "acl-2", "Entries": [], "Associations": assoc}])


def test_bad_entry_names_the_entry() -> None:
    with pytest.raises(FabricCommandError, match="RuleNumber"):
        Rule.from_aws({"Protocol": "-1", "RuleAction": "deny", "Egress": False, "CidrBlock": "0.0.0.0/0"})


def test_an_unparseable_entry_is_skipped_and_the_rest_of_its_nacl_still_applies() -> None:
    bad = entry(50, "deny", False, cidr="999.0.0.0/8")
    skipped: list[SkippedEntry] = []
    cut = AclTable.from_aws([
        {"NetworkAclId": "acl-a", "Entries": [bad, entry(100, "deny", False), entry(100, "allow", True)],
         "Associations": [{"SubnetId": A}]},
        {"NetworkAclId": "acl-b", "Entries": DEFAULT, "Associations": [{"SubnetId": B}]},
    ], skipped)
    assert [(s.acl_id, s.entry["CidrBlock"]) for s in skipped] == [("acl-a", "999.0.0.0/8")]
    assert "999.0.0.0/8" in skipped[0].reason and "CidrBlock" in skipped[0].reason
    decision = cut.check(B_HOST, A_HOST, 80)
    assert (decision.allowed, decision.rule) == (False, "100")
    assert cut.check(B_HOST, PacketEnd(ipaddress.IPv4Address("127.16.2.11"), B), 80).allowed


def test_without_a_skipped_list_an_unparseable_entry_still_raises() -> None:
    with pytest.raises(FabricCommandError, match="999.0.0.0/8"):
        AclTable.from_aws([{"NetworkAclId": "acl-a", "Entries": [entry(50, "deny", False, cidr="999.0.0.0/8")],
                            "Associations": []}])
