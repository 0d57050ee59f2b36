"""Malformed packets: FORMERR or silence, never a crash or a stall (Hypothesis fuzzing, real sockets too)."""
from __future__ import annotations

import random
import socket
import struct
from typing import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from base.timescale import TimeScale
from stack.local.route53 import wire
from stack.local.route53.catalog import ZoneCatalog
from stack.local.route53.network import NetworkMap
from stack.local.route53.responder import Responder, formerr

from .served import Served, environment, running
from .zones import rec, zone_of

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID = dns.message.make_query("www.example.com", "A", use_edns=0,
                               options=[dns.edns.ECSOption("127.200.3.0", 24)]).to_wire()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with running([rec("www", "192.0.2.1"), rec("big", *[f"198.51.100.{i}" for i in range(1, 41)])]) as s:
        yield s


def check_reply(packet: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    message = dns.message.from_wire(reply)
    assert message.flags & dns.flags.QR
    assert reply[:2] == packet[:2], "the reply carries the query's id"


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid query with bytes flipped, cut, or inserted: it reaches deeper into the parser than noise."""
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "count"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "count" and len(data) >= 12:
            i = draw(st.sampled_from([4, 6, 8, 10]))
            data[i:i + 2] = struct.pack("!H", draw(st.integers(0, 65535)))
    return bytes(data)


PACKETS = st.one_of(st.binary(max_size=700), mutated())


@FUZZ
@given(packet=PACKETS)
def test_responder_never_raises_and_replies_well_formed(served: Served, packet: bytes) -> None:
    check_reply(packet, served.responder.handle(packet, "127.200.3.9", udp=True))
    check_reply(packet, served.responder.handle(packet, "127.200.3.9", udp=False))


@FUZZ
@given(packet=PACKETS)
def test_server_keeps_answering_after_malformed_packets(served: Served, packet: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(packet, (served.host, served.port))
    with socket.create_connection((served.host, served.port), timeout=2) as tcp:
        tcp.sendall(struct.pack("!H", len(packet)) + packet)
        tcp.shutdown(socket.SHUT_WR)
    reply = served.query("www.example.com")
    assert {rd.to_text() for rd in reply.answer[0]} == {"192.0.2.1"}


def test_header_only_garbage_gets_formerr_with_its_id() -> None:
    packet = b"\x12\x34\x01\x00" + b"\x00\x05" * 4 + b"\xff\xff"
    reply = dns.message.from_wire(formerr(packet) or b"")
    assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR


def test_short_packets_and_responses_are_dropped(served: Served) -> None:
    assert served.responder.handle(b"\x00\x01\x02", "127.0.0.9", udp=True) is None
    response = bytearray(VALID)
    response[2] |= 0x80  # QR: a response, perhaps reflected; never answer it
    assert served.responder.handle(bytes(response), "127.0.0.9", udp=True) is None


def test_two_questions_get_formerr(served: Served) -> None:
    message = dns.message.make_query("www.example.com", "A")
    message.question.append(dns.message.make_query("big.example.com", "A").question[0])
    reply = dns.message.from_wire(served.responder.handle(message.to_wire(), "127.0.0.9", udp=True) or b"")
    assert reply.rcode() == dns.rcode.FORMERR


def test_a_stalled_tcp_client_does_not_block_others(served: Served) -> None:
    with socket.create_connection((served.host, served.port), timeout=2) as stalled:
        stalled.sendall(b"\x00\x40\x12")  # promises 64 bytes, sends one
        assert served.query("www.example.com", tcp=True).answer
        assert served.query("www.example.com").answer


# --- the fast codec against dnspython, and the answer cache

def responder_pair(records: list[dict[str, object]]) -> tuple[Responder, Responder]:
    catalog = ZoneCatalog()
    catalog.replace_hosted([zone_of(records)])
    networks = NetworkMap.from_environment(environment())

    def make(fast: bool) -> Responder:
        return Responder(lambda: catalog.zones, lambda hc: hc != "hc-down", networks, TimeScale(0.1), random.Random(5), fast=fast)
    return make(True), make(False)


PAIR_RECORDS = [
    rec("www", "192.0.2.1"), rec("web", "www.example.com.", rtype="CNAME"), rec("far", "x.example.net.", rtype="CNAME"),
    rec("big", *[f"198.51.100.{i}" for i in range(1, 61)]), rec("txt", '"hello world"', rtype="TXT"),
    rec("mx", "10 mail.example.com.", rtype="MX"), rec("sub", "ns.other.net.", rtype="NS"),
    *[rec("checkout", f"127.{16 + i}.1.10", SetIdentifier=r, Region=r, HealthCheckId="hc-down" if i == 2 else f"hc-{r}")
      for i, r in enumerate(["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"])],
]
PAIR_QUERIES = [
    ("www.example.com", "A", {}), ("WWW.Example.COM", "A", {}), ("www.example.com", "AAAA", {}),
    ("nope.example.com", "A", {"use_edns": 0}), ("web.example.com", "A", {"use_edns": 0}),
    ("far.example.com", "A", {}), ("big.example.com", "A", {}), ("big.example.com", "A", {"use_edns": 0, "payload": 700}),
    ("big.example.com", "A", {"use_edns": 0, "payload": 4096}), ("txt.example.com", "TXT", {}),
    ("mx.example.com", "MX", {}), ("a.sub.example.com", "A", {}), ("example.com", "SOA", {}), ("example.com", "NS", {}),
    ("www.example.org", "A", {"use_edns": 0}), ("www.example.com", "TYPE65280", {}),
    ("checkout.example.com", "A", {"use_edns": 0, "options": [dns.edns.ECSOption("127.200.3.0", 24)]}),
    ("checkout.example.com", "A", {"use_edns": 0, "options": [dns.edns.ECSOption("127.200.4.0", 24)]}),
    ("checkout.example.com", "A", {"use_edns": 0, "options": [dns.edns.ECSOption("127.200.3.77", 32)]}),
    ("checkout.example.com", "A", {"use_edns": 0, "options": [dns.edns.ECSOption("10.1.0.0", 16)]}),
    ("checkout.example.com", "A", {"use_edns": 0, "options": [dns.edns.ECSOption("0.0.0.0", 0)]}),
    ("checkout.example.com", "A", {}),
]


@pytest.mark.parametrize(("name", "rtype", "kw"), PAIR_QUERIES, ids=[f"{n}/{t}/{sorted(k)}" for n, t, k in PAIR_QUERIES])
@pytest.mark.parametrize("udp", [True, False], ids=["udp", "tcp"])
def test_fast_codec_answers_exactly_as_dnspython(name: str, rtype: str, kw: dict[str, object], udp: bool) -> None:
    fast, slow = responder_pair(PAIR_RECORDS)
    query = dns.message.make_query(name, rtype, **kw).to_wire()  # type: ignore[arg-type]
    assert wire.parse(query) is not None, "the fast path takes this query"
    fast_reply, slow_reply = fast.handle(query, "127.200.1.9", udp), slow.handle(query, "127.200.1.9", udp)
    assert fast_reply is not None and slow_reply is not None
    # Same records in every section (order within an rrset is not significant in DNS), same TTLs and options.
    assert sorted(dns.message.from_wire(fast_reply).to_text().splitlines()) == \
        sorted(dns.message.from_wire(slow_reply).to_text().splitlines())
    assert fast_reply[2:4] == slow_reply[2:4], "same flags and rcode"


def test_cache_serves_repeats_and_empties_when_the_version_moves() -> None:
    catalog = ZoneCatalog()
    catalog.replace_hosted([zone_of(PAIR_RECORDS)])
    down: set[str] = set()
    health_version = [0]
    responder = Responder(lambda: catalog.zones, lambda hc: hc not in down, NetworkMap.from_environment(environment()),
                          TimeScale(0.1), random.Random(5), version=lambda: (catalog.version, health_version[0]))
    assert responder.cache is not None
    frankfurt = dns.message.make_query("checkout.example.com", "A", use_edns=0,
                                       options=[dns.edns.ECSOption("127.200.3.0", 24)])

    def ask(message: dns.message.Message, source: str = "127.0.0.9") -> set[str]:
        message.id = (message.id + 1) % 65536
        reply = dns.message.from_wire(responder.handle(message.to_wire(), source, True) or b"")
        assert reply.id == message.id
        return {rd.to_text() for rrset in reply.answer for rd in rrset}

    assert ask(frankfurt) == {"127.18.1.10"}
    assert len(responder.cache) == 1
    assert ask(frankfurt) == {"127.18.1.10"}
    down.add("hc-down")  # eu-central-1's check in PAIR_RECORDS
    assert ask(frankfurt) == {"127.18.1.10"}, "health moved without a version change: still cached"
    health_version[0] += 1
    assert ask(frankfurt) == {"127.16.1.10"}, "a new version empties the cache"
    # Without ECS, the source address decides, and the cache keeps one answer per client network.
    plain = dns.message.make_query("checkout.example.com", "A")
    assert ask(plain, "127.200.4.9") == {"127.19.1.10"}
    assert ask(plain, "127.200.1.9") == {"127.16.1.10"}
    assert ask(plain, "127.200.4.10") == {"127.19.1.10"}


def test_cache_never_keeps_randomised_answers() -> None:
    catalog = ZoneCatalog()
    catalog.replace_hosted([zone_of([rec("w", f"10.0.0.{i}", SetIdentifier=str(i), Weight=1) for i in range(1, 5)])])
    responder = Responder(lambda: catalog.zones, lambda hc: True, NetworkMap.from_environment(environment()),
                          TimeScale(0.1), random.Random(5), version=lambda: catalog.version)
    query = dns.message.make_query("w.example.com", "A").to_wire()
    seen = {dns.message.from_wire(responder.handle(query, "127.0.0.9", True) or b"").answer[0][0].to_text()
            for _ in range(40)}
    assert len(seen) == 4 and responder.cache is not None and len(responder.cache) == 0
