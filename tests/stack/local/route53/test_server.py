"""The DNS server over real UDP and TCP sockets, and through `dig`."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from base.timescale import TimeScale


from .served import Served, running
from .zones import alias, rec

RECORDS = [
    rec("www", "192.0.2.1", ttl=60),
    rec("web", "www.example.com.", rtype="CNAME", ttl=300),
    alias("apex-alias", "www"),
    rec("zero", "192.0.2.2", ttl=0),
    rec("big", *[f"198.51.100.{i}" for i in range(1, 61)], ttl=60),
    rec("sub", "ns1.other.example.net.", rtype="NS", ttl=300),
    *[rec("checkout", address, SetIdentifier=region, Region=region, HealthCheckId=f"hc-{region}")
      for region, address in [("us-east-1", "127.16.1.10"), ("us-west-2", "127.17.1.10"),
                              ("eu-central-1", "127.18.1.10"), ("ap-southeast-1", "127.19.1.10")]],
    rec("geo", "203.0.113.1", SetIdentifier="de", GeoLocation={"CountryCode": "DE"}),
    rec("geo", "203.0.113.9", SetIdentifier="default", GeoLocation={"CountryCode": "*"}),
]
FRANKFURT_SUBNET = "127.200.3.0/24"  # environments/local.yaml, instance 0


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with running(RECORDS) as s:
        yield s


@pytest.fixture(autouse=True)
def all_healthy(served: Served) -> Iterator[None]:
    served.unhealthy.clear()
    yield
    served.unhealthy.clear()


def values(message: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in message.answer for rd in rrset}


def ecs_of(message: dns.message.Message) -> dns.edns.ECSOption:
    (option,) = [o for o in message.options if isinstance(o, dns.edns.ECSOption)]
    return option


def test_answers_authoritatively_with_scaled_ttl(served: Served) -> None:
    reply = served.query("www.example.com")
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert values(reply) == {"192.0.2.1"}
    assert reply.answer[0].ttl == 6  # 60 s x 0.1


@pytest.mark.parametrize(("ttl", "scale", "expected"), [(60, 0.1, 6), (5, 0.1, 1), (1, 0.1, 1), (0, 0.1, 0),
                                                        (15, 0.1, 2), (300, 1.0, 300), (7, 0.5, 4)])
def test_ttl_scaling_rounds_up_with_floor_one_except_zero(ttl: int, scale: float, expected: int) -> None:
    assert TimeScale(scale).ttl(ttl) == expected


def test_explicit_zero_ttl_stays_zero(served: Served) -> None:
    assert served.query("zero.example.com").answer[0].ttl == 0


def test_nxdomain_carries_soa_with_scaled_negative_ttl(served: Served) -> None:
    reply = served.query("nope.example.com")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA
    (soa,) = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 30 and soa[0].minimum == 30  # min(900, 300) x 0.1; MINIMUM scaled too


def test_nodata_for_a_name_with_another_type(served: Served) -> None:
    reply = served.query("www.example.com", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


def test_soa_and_ns_at_apex(served: Served) -> None:
    assert served.query("example.com", "SOA").answer[0].rdtype == dns.rdatatype.SOA
    assert values(served.query("example.com", "NS")) == {"ns-1.awsdns-01.org.", "ns-2.awsdns-02.net."}


def test_cname_chased_and_alias_answered_under_its_own_name(served: Served) -> None:
    reply = served.query("web.example.com")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    reply = served.query("apex-alias.example.com")
    assert values(reply) == {"192.0.2.1"} and reply.answer[0].name.to_text() == "apex-alias.example.com."


def test_refused_outside_served_zones(served: Served) -> None:
    assert served.query("www.example.org").rcode() == dns.rcode.REFUSED


def test_referral_for_a_delegated_subdomain(served: Served) -> None:
    reply = served.query("host.sub.example.com")
    assert not reply.flags & dns.flags.AA and reply.authority[0].rdtype == dns.rdatatype.NS


def test_ecs_subnet_decides_latency_and_sets_scope(served: Served) -> None:
    reply = served.query("checkout.example.com", subnet=FRANKFURT_SUBNET)
    assert values(reply) == {"127.18.1.10"}
    option = ecs_of(reply)
    assert option.address == "127.200.3.0" and option.srclen == 24 and option.scopelen == 24


def test_ecs_answer_follows_health(served: Served) -> None:
    served.unhealthy.add("hc-eu-central-1")
    assert values(served.query("checkout.example.com", subnet=FRANKFURT_SUBNET)) == {"127.16.1.10"}


def test_ecs_scope_is_zero_when_the_answer_is_the_same_for_everyone(served: Served) -> None:
    reply = served.query("www.example.com", subnet=FRANKFURT_SUBNET)
    assert ecs_of(reply).scopelen == 0


def test_source_address_decides_without_ecs(served: Served) -> None:
    reply = served.query("geo.example.com", source="127.200.3.7")
    assert values(reply) == {"203.0.113.1"}


def test_unknown_network_gets_the_default_record(served: Served) -> None:
    assert values(served.query("geo.example.com", subnet="127.99.0.0/24")) == {"203.0.113.9"}
    assert values(served.query("geo.example.com", subnet="0.0.0.0/0")) == {"203.0.113.9"}


def test_udp_truncates_and_tcp_carries_the_full_answer(served: Served) -> None:
    reply = served.query("big.example.com", use_edns=False)
    assert reply.flags & dns.flags.TC
    full = served.query("big.example.com", tcp=True)
    assert not full.flags & dns.flags.TC and len(values(full)) == 60


def test_edns_payload_large_enough_needs_no_truncation(served: Served) -> None:
    reply = served.query("big.example.com", payload=4096)
    assert not reply.flags & dns.flags.TC and len(values(reply)) == 60


def test_several_queries_on_one_tcp_connection(served: Served) -> None:
    with socket.create_connection((served.host, served.port), timeout=2) as sock:
        for name in ("www.example.com", "nope.example.com", "web.example.com"):
            dns.query.send_tcp(sock, dns.message.make_query(name, "A"))
            reply, _ = dns.query.receive_tcp(sock, expiration=time.time() + 2)
            assert reply.question[0].name.to_text() == name + "."


def test_edns_version_1_gets_badvers(served: Served) -> None:
    reply = served.query("www.example.com", use_edns=1)
    assert reply.rcode() == dns.rcode.BADVERS


def test_non_query_opcode_gets_notimp(served: Served) -> None:
    message = dns.message.make_query("www.example.com", "A")
    message.set_opcode(dns.opcode.NOTIFY)
    reply = dns.query.udp(message, served.host, port=served.port, timeout=2)
    assert reply.rcode() == dns.rcode.NOTIMP


def test_zone_transfer_refused(served: Served) -> None:
    reply = served.query("example.com", "AXFR", tcp=True)
    assert reply.rcode() == dns.rcode.REFUSED


def test_dig_asks_from_frankfurt(served: Served) -> None:
    dig = shutil.which("dig")
    if dig is None:
        pytest.skip("dig is not installed (Debian package bind9-dnsutils)")
    out = subprocess.run(
        [dig, f"@{served.host}", "-p", str(served.port), "checkout.example.com", "A", f"+subnet={FRANKFURT_SUBNET}",
         "+tries=1", "+time=2"],
        capture_output=True, text=True, timeout=10, check=True).stdout
    assert "status: NOERROR" in out and "flags: qr aa" in out
    assert "127.18.1.10" in out
    assert f"CLIENT-SUBNET: {FRANKFURT_SUBNET}/24" in out
    out = subprocess.run([dig, f"@{served.host}", "-p", str(served.port), "+short", "+tcp", "big.example.com"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    assert len(out.split()) == 60


def test_dig_retries_over_tcp_after_truncation(served: Served) -> None:
    dig = shutil.which("dig")
    if dig is None:
        pytest.skip("dig is not installed (Debian package bind9-dnsutils)")
    out = subprocess.run([dig, f"@{served.host}", "-p", str(served.port), "+noedns", "+tries=1", "+time=2",
                          "big.example.com"], capture_output=True, text=True, timeout=10, check=True).stdout
    assert "Truncated, retrying in TCP mode" in out
    assert out.count("198.51.100.") == 60
