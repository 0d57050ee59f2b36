"""Conformance table for the resolution engine: one case per documented Route 53 routing rule and edge case.

Each case is a zone (boto3's record shape), the health checks that fail, the client's network and a
query; the expectation is the answer's values (CNAME targets included) or the rcode / NODATA.
Random choices use a seeded ``random.Random``, so every case is deterministic.
"""
from __future__ import annotations

import collections
import random
from dataclasses import dataclass
from typing import Any

import dns.rdatatype
import pytest

from stack.local.route53.network import ClientNetwork
from stack.local.route53.records import RecordSet
from stack.local.route53.routing import Rcode, Resolution, resolve
from stack.local.route53.zone import Zone

from .zones import (FRANKFURT, OREGON, PARIS, SINGAPORE, TORONTO, VIRGINIA, alias, apex_records, qname, rec,
                    zone_of, zones_of)


@dataclass(frozen=True)
class Case:
    rule: str
    records: tuple[dict[str, Any], ...]
    query: str
    expect: frozenset[str] | None = None  # the values of every answer rrset
    qtype: str = "A"
    network: ClientNetwork | None = None
    unhealthy: frozenset[str] = frozenset()
    rcode: Rcode = Rcode.NOERROR
    nodata: bool = False
    one_of: bool = False  # the answer is one value out of ``expect`` (a weighted choice)


def case(rule: str, records: list[dict[str, Any]], query: str, expect: set[str] | None = None, *,
         unhealthy: set[str] = frozenset(), **kw: Any) -> Case:  # type: ignore[assignment]
    return Case(rule, tuple(records), query, None if expect is None else frozenset(expect),
                unhealthy=frozenset(unhealthy), **kw)


def lat(region: str, value: str, hc: str | None = None, **kw: Any) -> dict[str, Any]:
    extra = {"HealthCheckId": hc} if hc else {}
    return rec(kw.pop("name", "www"), value, SetIdentifier=region, Region=region, **extra, **kw)


def geo(ident: str, value: str, hc: str | None = None, name: str = "geo", **location: str) -> dict[str, Any]:
    extra = {"HealthCheckId": hc} if hc else {}
    return rec(name, value, SetIdentifier=ident, GeoLocation=location, **extra)


def weighted(ident: str, value: str, weight: int, hc: str | None = None, name: str = "w") -> dict[str, Any]:
    extra = {"HealthCheckId": hc} if hc else {}
    return rec(name, value, SetIdentifier=ident, Weight=weight, **extra)


def failover(role: str, value: str, hc: str | None = None, name: str = "fo") -> dict[str, Any]:
    extra = {"HealthCheckId": hc} if hc else {}
    return rec(name, value, SetIdentifier=role.lower(), Failover=role, **extra)


def multi(i: int, hc: str | None = None) -> dict[str, Any]:
    extra = {"HealthCheckId": hc} if hc else {}
    return rec("mv", f"192.0.2.{i}", SetIdentifier=f"m{i}", MultiValueAnswer=True, **extra)


FOUR_REGIONS = [lat("us-east-1", "10.0.0.1", "hc-use1"), lat("us-west-2", "10.0.0.2", "hc-usw2"),
                lat("eu-central-1", "10.0.0.3", "hc-euc1"), lat("ap-southeast-1", "10.0.0.4", "hc-apse1")]
GEO = [geo("va", "10.1.0.1", "hc-va", CountryCode="US", SubdivisionCode="VA"),
       geo("us", "10.1.0.2", "hc-us", CountryCode="US"),
       geo("na", "10.1.0.3", "hc-na", ContinentCode="NA"),
       geo("de", "10.1.0.4", "hc-de", CountryCode="DE"),
       geo("eu", "10.1.0.5", "hc-eu", ContinentCode="EU"),
       geo("default", "10.1.0.9", "hc-default", CountryCode="*")]
# Latency alias records (EvaluateTargetHealth) over a weighted pair per Region: the classic alias tree.
TREE = [
    alias("app", "eu.app", SetIdentifier="eu-central-1", Region="eu-central-1"),
    alias("app", "us.app", SetIdentifier="us-east-1", Region="us-east-1"),
    weighted("eu-a", "10.2.0.1", 1, "hc-eu-a", name="eu.app"), weighted("eu-b", "10.2.0.2", 1, "hc-eu-b", name="eu.app"),
    weighted("us-a", "10.2.1.1", 1, "hc-us-a", name="us.app"), weighted("us-b", "10.2.1.2", 1, "hc-us-b", name="us.app"),
]

CASES = [
    # --- zone structure: NXDOMAIN, NODATA, SOA/NS, CNAME, wildcard, delegation
    case("simple: one record, its value", [rec("www", "192.0.2.1")], "www", {"192.0.2.1"}),
    case("simple: several values, all returned", [rec("www", "192.0.2.1", "192.0.2.2", "192.0.2.3")], "www",
         {"192.0.2.1", "192.0.2.2", "192.0.2.3"}),
    case("simple: names are case-insensitive", [rec("WWW", "192.0.2.1")], "wWw", {"192.0.2.1"}),
    case("absent name: NXDOMAIN", [rec("www", "192.0.2.1")], "nope", rcode=Rcode.NXDOMAIN),
    case("name with another type: NODATA", [rec("www", "192.0.2.1")], "www", qtype="AAAA", nodata=True),
    case("empty non-terminal: NODATA, not NXDOMAIN", [rec("a.b", "192.0.2.1")], "b", nodata=True),
    case("name outside every zone: REFUSED", [rec("www", "192.0.2.1")], "www.example.org.", rcode=Rcode.REFUSED),
    case("SOA at the apex", [], "@", {"ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 300"},
         qtype="SOA"),
    case("NS at the apex", [], "@", {"ns-1.awsdns-01.org.", "ns-2.awsdns-02.net."}, qtype="NS"),
    case("CNAME answers an A query and is chased in the zone",
         [rec("www", "web.example.com.", rtype="CNAME"), rec("web", "192.0.2.7")], "www",
         {"web.example.com.", "192.0.2.7"}),
    case("CNAME query returns the CNAME only",
         [rec("www", "web.example.com.", rtype="CNAME"), rec("web", "192.0.2.7")], "www", {"web.example.com."},
         qtype="CNAME"),
    case("CNAME out of the served zones: the CNAME alone",
         [rec("www", "elsewhere.example.net.", rtype="CNAME")], "www", {"elsewhere.example.net."}),
    case("CNAME to a missing name: NXDOMAIN with the CNAME (RFC 6604)",
         [rec("www", "gone.example.com.", rtype="CNAME")], "www", {"gone.example.com."}, rcode=Rcode.NXDOMAIN),
    case("CNAME loop terminates", [rec("a", "b.example.com.", rtype="CNAME"), rec("b", "a.example.com.", rtype="CNAME")],
         "a", {"a.example.com.", "b.example.com."}),
    case("wildcard synthesises an absent name", [rec("*.w", "192.0.2.9")], "anything.w", {"192.0.2.9"}),
    case("Route 53's octal escape \\052 is a wildcard", [rec("\\052.w", "192.0.2.9")], "x.w", {"192.0.2.9"}),
    case("wildcard does not cover an existing empty non-terminal",
         [rec("*.w", "192.0.2.9"), rec("x.y.w", "192.0.2.8")], "y.w", nodata=True),
    case("delegation below the apex: referral",
         [rec("sub", "ns.other.net.", rtype="NS", ttl=300)], "host.sub", set()),
    # --- weighted
    case("weighted: a record with an unhealthy check is skipped",
         [weighted("a", "10.0.1.1", 100, "hc-a"), weighted("b", "10.0.1.2", 1, "hc-b")], "w", {"10.0.1.2"},
         unhealthy={"hc-a"}),
    case("weighted: weight-0 used only when every non-zero record is unhealthy",
         [weighted("a", "10.0.1.1", 5, "hc-a"), weighted("z", "10.0.1.9", 0, "hc-z")], "w", {"10.0.1.9"},
         unhealthy={"hc-a"}),
    case("weighted: a record without a health check counts healthy",
         [weighted("a", "10.0.1.1", 5, "hc-a"), weighted("b", "10.0.1.2", 5)], "w", {"10.0.1.2"},
         unhealthy={"hc-a"}),
    case("weighted: all unhealthy fails open to the non-zero weights",
         [weighted("a", "10.0.1.1", 5, "hc-a"), weighted("z", "10.0.1.9", 0, "hc-z")], "w", {"10.0.1.1"},
         unhealthy={"hc-a", "hc-z"}),
    # --- latency
    case("latency: Frankfurt gets eu-central-1", FOUR_REGIONS, "www", {"10.0.0.3"}, network=FRANKFURT),
    case("latency: Singapore gets ap-southeast-1", FOUR_REGIONS, "www", {"10.0.0.4"}, network=SINGAPORE),
    case("latency: Oregon gets us-west-2", FOUR_REGIONS, "www", {"10.0.0.2"}, network=OREGON),
    case("latency: best Region unhealthy, next-best Region", FOUR_REGIONS, "www", {"10.0.0.1"},
         network=FRANKFURT, unhealthy={"hc-euc1"}),
    case("latency: two best unhealthy, third", FOUR_REGIONS, "www", {"10.0.0.2"},
         network=FRANKFURT, unhealthy={"hc-euc1", "hc-use1"}),
    case("latency: all unhealthy fails open to the best Region", FOUR_REGIONS, "www", {"10.0.0.3"},
         network=FRANKFURT, unhealthy={"hc-use1", "hc-usw2", "hc-euc1", "hc-apse1"}),
    case("latency: unknown network ranks Regions by name (documented choice)", FOUR_REGIONS, "www", {"10.0.0.4"}),
    case("latency: a Region the client has no RTT for ranks last",
         [lat("sa-east-1", "10.0.0.8"), lat("us-east-1", "10.0.0.1")], "www", {"10.0.0.1"}, network=PARIS),
    # --- geolocation
    case("geolocation: state beats country and continent", GEO, "geo", {"10.1.0.1"}, network=VIRGINIA),
    case("geolocation: country when no state record matches", GEO, "geo", {"10.1.0.2"}, network=OREGON),
    case("geolocation: continent when no country record matches", GEO, "geo", {"10.1.0.3"}, network=TORONTO),
    case("geolocation: country DE before continent EU", GEO, "geo", {"10.1.0.4"}, network=FRANKFURT),
    case("geolocation: default when nothing matches", GEO, "geo", {"10.1.0.9"}, network=SINGAPORE),
    case("geolocation: unknown network gets the default", GEO, "geo", {"10.1.0.9"}),
    case("geolocation: no match and no default is NODATA", GEO[:5], "geo", network=SINGAPORE, nodata=True),
    case("geolocation: unhealthy state falls to country", GEO, "geo", {"10.1.0.2"}, network=VIRGINIA,
         unhealthy={"hc-va"}),
    case("geolocation: unhealthy state and country fall to continent", GEO, "geo", {"10.1.0.3"}, network=VIRGINIA,
         unhealthy={"hc-va", "hc-us"}),
    case("geolocation: whole chain unhealthy falls to default", GEO, "geo", {"10.1.0.9"}, network=VIRGINIA,
         unhealthy={"hc-va", "hc-us", "hc-na"}),
    case("geolocation: every record unhealthy fails open to the most specific", GEO, "geo", {"10.1.0.1"},
         network=VIRGINIA, unhealthy={"hc-va", "hc-us", "hc-na", "hc-de", "hc-eu", "hc-default"}),
    # --- failover
    case("failover: PRIMARY healthy wins whatever the SECONDARY",
         [failover("PRIMARY", "10.3.0.1", "hc-p"), failover("SECONDARY", "10.3.0.2", "hc-s")], "fo", {"10.3.0.1"},
         unhealthy={"hc-s"}),
    case("failover: PRIMARY unhealthy, SECONDARY healthy",
         [failover("PRIMARY", "10.3.0.1", "hc-p"), failover("SECONDARY", "10.3.0.2", "hc-s")], "fo", {"10.3.0.2"},
         unhealthy={"hc-p"}),
    case("failover: both unhealthy answers PRIMARY",
         [failover("PRIMARY", "10.3.0.1", "hc-p"), failover("SECONDARY", "10.3.0.2", "hc-s")], "fo", {"10.3.0.1"},
         unhealthy={"hc-p", "hc-s"}),
    case("failover: SECONDARY without a health check counts healthy",
         [failover("PRIMARY", "10.3.0.1", "hc-p"), failover("SECONDARY", "10.3.0.2")], "fo", {"10.3.0.2"},
         unhealthy={"hc-p"}),
    case("failover: a lone SECONDARY answers", [failover("SECONDARY", "10.3.0.2", "hc-s")], "fo", {"10.3.0.2"},
         unhealthy={"hc-s"}),
    # --- multivalue
    case("multivalue: unhealthy records left out", [multi(1, "h1"), multi(2, "h2"), multi(3)], "mv",
         {"192.0.2.2", "192.0.2.3"}, unhealthy={"h1"}),
    case("multivalue: all unhealthy returns them anyway", [multi(1, "h1"), multi(2, "h2")], "mv",
         {"192.0.2.1", "192.0.2.2"}, unhealthy={"h1", "h2"}),
    # --- alias and EvaluateTargetHealth
    case("alias: target's values under the alias's name", [alias("www", "web"), rec("web", "192.0.2.5")], "www",
         {"192.0.2.5"}),
    case("alias at the apex", [alias("@", "web"), rec("web", "192.0.2.5")], "@", {"192.0.2.5"}),
    case("alias tree: healthy branch is used", TREE, "app", {"10.2.0.1", "10.2.0.2"}, network=FRANKFURT, one_of=True),
    case("alias tree: target group healthy while any member is", TREE, "app", {"10.2.0.2"}, network=FRANKFURT,
         unhealthy={"hc-eu-a"}),
    case("alias tree: unhealthy branch backs out to the next-best Region", TREE, "app", {"10.2.1.1", "10.2.1.2"},
         network=FRANKFURT, unhealthy={"hc-eu-a", "hc-eu-b"}, one_of=True),
    case("alias tree: everything unhealthy fails open at every level", TREE, "app", {"10.2.0.1", "10.2.0.2"},
         network=FRANKFURT, unhealthy={"hc-eu-a", "hc-eu-b", "hc-us-a", "hc-us-b"}, one_of=True),
    case("alias: EvaluateTargetHealth false stays in the unhealthy branch",
         [alias("app", "eu.app", evaluate=False, SetIdentifier="eu-central-1", Region="eu-central-1"),
          alias("app", "us.app", evaluate=False, SetIdentifier="us-east-1", Region="us-east-1")] + TREE[2:],
         "app", {"10.2.0.1", "10.2.0.2"}, network=FRANKFURT, unhealthy={"hc-eu-a", "hc-eu-b"}, one_of=True),
    case("alias: own health check and target health must both pass",
         [alias("app", "eu.app", SetIdentifier="eu-central-1", Region="eu-central-1", HealthCheckId="hc-eu-alias"),
          alias("app", "us.app", SetIdentifier="us-east-1", Region="us-east-1")] + TREE[2:],
         "app", {"10.2.1.1", "10.2.1.2"}, network=FRANKFURT, unhealthy={"hc-eu-alias"}, one_of=True),
    case("alias: failover PRIMARY alias with an unhealthy target gives the SECONDARY",
         [alias("fo", "blue", SetIdentifier="p", Failover="PRIMARY"), failover("SECONDARY", "10.3.0.2"),
          rec("blue", "10.3.0.1", SetIdentifier="b", Weight=1, HealthCheckId="hc-blue")],
         "fo", {"10.3.0.2"}, unhealthy={"hc-blue"}),
    case("alias: a target missing from the zone is unhealthy",
         [alias("fo", "missing", SetIdentifier="p", Failover="PRIMARY"), failover("SECONDARY", "10.3.0.2")],
         "fo", {"10.3.0.2"}),
    case("alias: a target outside the served zones counts healthy (cannot be judged)",
         [alias("fo", "lb.elb.amazonaws.com.", SetIdentifier="p", Failover="PRIMARY"), failover("SECONDARY", "10.3.0.2")],
         "fo", set()),
    case("alias: a loop answers nothing and terminates", [alias("x", "y"), alias("y", "x")], "x", set()),
    case("alias of type CNAME to a CNAME record",
         [alias("www", "web", rtype="CNAME"), rec("web", "origin.example.net.", rtype="CNAME")], "www",
         {"origin.example.net."}),
]


def answer_values(resolution: Resolution) -> set[str]:
    return {rd.to_text() for rrset in resolution.answer for rd in rrset.rdatas}


def run(c: Case, rng: random.Random | None = None) -> Resolution:
    zones = zones_of(zone_of(c.records))
    return resolve(zones, qname(c.query), dns.rdatatype.from_text(c.qtype), lambda hc: hc not in c.unhealthy,
                   c.network, rng or random.Random(7))


def test_table_has_at_least_40_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.rule for c in CASES}) == len(CASES), "every rule is named once"


@pytest.mark.parametrize("c", CASES, ids=[c.rule for c in CASES])
def test_conformance(c: Case) -> None:
    resolution = run(c)
    assert resolution.rcode is c.rcode, c.rule
    if c.nodata:
        assert resolution.nodata, f"{c.rule}: expected NODATA, got {answer_values(resolution)}"
        assert resolution.authority and resolution.authority[0].rtype == dns.rdatatype.SOA
    if c.one_of:
        assert len(answer_values(resolution)) == 1 and answer_values(resolution) <= c.expect, c.rule
    elif c.expect is not None:
        assert answer_values(resolution) == c.expect, c.rule


def test_answers_owned_by_the_query_name_with_target_ttl() -> None:
    zone = zone_of([alias("www", "web"), rec("web", "192.0.2.5", ttl=42)])
    resolution = resolve(zones_of(zone), qname("www"), dns.rdatatype.A, lambda _: True, None, random.Random(1))
    (rrset,) = resolution.answer
    assert rrset.name == qname("www") and rrset.ttl_s == 42


def test_negative_answers_carry_soa_with_rfc2308_ttl() -> None:
    zone = Zone.build(qname("@"), "Z", [RecordSet.from_api(r) for r in apex_records(soa_ttl=900, minimum=30)])
    resolution = resolve(zones_of(zone), qname("nope"), dns.rdatatype.A, lambda _: True, None, random.Random(1))
    assert resolution.rcode is Rcode.NXDOMAIN
    assert resolution.authority[0].ttl_s == 30


def test_referral_is_not_authoritative() -> None:
    zone = zone_of([rec("sub", "ns.other.net.", rtype="NS")])
    resolution = resolve(zones_of(zone), qname("a.sub"), dns.rdatatype.A, lambda _: True, None, random.Random(1))
    assert not resolution.authoritative
    assert resolution.authority[0].rtype == dns.rdatatype.NS


def test_client_dependence_marks_latency_and_geolocation_only() -> None:
    def dependent(records: list[dict[str, Any]], query: str) -> bool:
        zones = zones_of(zone_of(records))
        return resolve(zones, qname(query), dns.rdatatype.A, lambda _: True, FRANKFURT, random.Random(1)).client_dependent

    assert dependent(FOUR_REGIONS, "www")
    assert dependent(GEO, "geo")
    assert dependent(TREE, "app")
    assert not dependent([rec("www", "192.0.2.1")], "www")


def test_mixed_policies_are_reported_and_one_served() -> None:
    zone = zone_of([rec("www", "192.0.2.1"), weighted("a", "192.0.2.2", 1, name="www")])
    assert any("mixes routing policies" in p for p in zone.problems)


def draw(records: list[dict[str, Any]], query: str, unhealthy: set[str], n: int, seed: int = 11) -> collections.Counter[str]:
    zones = zones_of(zone_of(records))
    rng = random.Random(seed)
    counts: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        resolution = resolve(zones, qname(query), dns.rdatatype.A, lambda hc: hc not in unhealthy, None, rng)
        counts.update(rd.to_text() for rrset in resolution.answer for rd in rrset.rdatas)
    return counts


def test_weighted_share_is_weight_over_sum() -> None:
    counts = draw([weighted("a", "10.0.1.1", 3), weighted("b", "10.0.1.2", 1)], "w", set(), 4000)
    share = counts["10.0.1.1"] / 4000
    assert 0.72 < share < 0.78, share  # 3/4, with a seeded RNG


def test_weight_zero_never_served_while_a_nonzero_record_is_healthy() -> None:
    counts = draw([weighted("a", "10.0.1.1", 1, "hc-a"), weighted("b", "10.0.1.2", 1, "hc-b"),
                   weighted("z", "10.0.1.9", 0)], "w", {"hc-a"}, 500)
    assert counts["10.0.1.9"] == 0 and counts["10.0.1.2"] == 500


def test_all_weights_zero_are_equally_likely() -> None:
    counts = draw([weighted(str(i), f"10.0.1.{i}", 0) for i in range(1, 5)], "w", set(), 4000)
    assert set(counts) == {f"10.0.1.{i}" for i in range(1, 5)}
    assert all(850 < n < 1150 for n in counts.values()), counts


def test_multivalue_returns_at_most_eight_healthy_chosen_at_random() -> None:
    records = [multi(i, f"h{i}") for i in range(1, 13)]
    counts = draw(records, "mv", {"h1", "h2"}, 300)
    assert "192.0.2.1" not in counts and "192.0.2.2" not in counts
    assert sum(counts.values()) == 300 * 8
    assert len(counts) == 10, "random choice reaches every healthy record"


def test_multivalue_all_unhealthy_returns_up_to_eight() -> None:
    records = [multi(i, f"h{i}") for i in range(1, 11)]
    counts = draw(records, "mv", {f"h{i}" for i in range(1, 11)}, 50)
    assert sum(counts.values()) == 50 * 8
