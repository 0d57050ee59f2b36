"""DNS wire format in and out: one query's bytes to one response's bytes (or None to drop it).

Kept apart from the sockets so the fuzz test and the benchmark drive exactly what the server runs.

- Malformed: a query whose header parses gets FORMERR with its id; anything shorter, or a packet with
  QR set (a response, perhaps a reflection), is dropped. Nothing here raises.
- EDNS: version > 0 gets BADVERS. EDNS Client Subnet decides the client's network when sent, else the
  source address does; the reply echoes the option with a scope prefix: the matched vantage subnet's
  prefix when latency or geolocation decided the answer, 0 when the answer is the same for everyone.
- UDP size: a response larger than the client's payload (512 without EDNS) is cut with TC set; the
  client retries over TCP, where the limit is 65535.
- TTLs are stored in AWS seconds and scaled here, once, when served (``TimeScale.ttl``: rounded up,
  at least 1 s, except an explicit 0).

Common queries take the fast codec in ``wire`` (dnspython is ~10x too slow for the rate goal); anything
it does not recognise, and anything it fails on, is answered through dnspython.
"""
from __future__ import annotations

import collections
import logging
import random
import struct
from typing import Callable, Hashable

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset

from base.timescale import TimeScale
from stack.local.route53 import wire as codec
from stack.local.route53.cache import AnswerCache
from stack.local.route53.network import ClientNetwork, NetworkMap
from stack.local.route53.records import uncompressed_wire
from stack.local.route53.routing import HealthOf, Rcode, Resolution, RRSet, resolve
from stack.local.route53.zone import ZoneSet

OUR_PAYLOAD = 4096  # what Route 53's servers advertise
UDP_LIMIT_NO_EDNS = 512
TCP_LIMIT = 65535
_FLAG_QR = 0x8000
_REFUSED_TYPES = (dns.rdatatype.AXFR, dns.rdatatype.IXFR)
NAME_CACHE_SIZE = 4096


def formerr(wire: bytes) -> bytes | None:
    """A FORMERR reply for a query we could not parse, or None when even the header is unusable."""
    if len(wire) < 12:
        return None
    (ident, flags) = struct.unpack("!HH", wire[:4])
    if flags & _FLAG_QR:
        return None
    opcode_bits = flags & 0x7800
    return struct.pack("!HHHHHH", ident, _FLAG_QR | opcode_bits | dns.rcode.FORMERR, 0, 0, 0, 0)


class Responder:
    """Answers DNS queries from the zones ``zones()`` returns, with ``health`` and ``networks``."""

    def __init__(
        self,
        zones: Callable[[], ZoneSet],
        health: HealthOf,
        networks: NetworkMap,
        scale: TimeScale,
        rng: random.Random | None = None,
        log: logging.Logger | None = None,
        fast: bool = True,
        version: Callable[[], Hashable] | None = None,
    ) -> None:
        self.zones = zones
        self.fast = fast
        # Without a way to tell that zones or health changed, answers cannot be kept.
        self.cache = AnswerCache(version) if version is not None and fast else None
        self.health = health
        self.networks = networks
        self.scale = scale
        self.rng = rng or random.Random()
        self.log = log or logging.getLogger(__name__)
        self.counts: collections.Counter[str] = collections.Counter()
        self._names: dict[tuple[bytes, ...], dns.name.Name] = {}

    def handle(self, wire: bytes, source: str, udp: bool) -> bytes | None:
        """The response to ``wire`` from ``source``; None means send nothing. Never raises."""
        if self.fast:
            try:
                if self.cache is not None and len(wire) > 2:
                    hit = self.cache.get(udp, wire[2:], lambda: self._network_name(source))
                    if hit is not None:
                        self.counts[hit[0]] += 1
                        self.counts["cached"] += 1
                        return wire[:2] + hit[1]
                fast_query = codec.parse(wire)
                if fast_query is not None:
                    return self._fast(fast_query, source, udp, wire)
            except Exception:  # noqa: BLE001 - dnspython below is the reference; let it answer
                self.log.exception("route53: fast path failed on a query from %s; answering with dnspython", source)
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            self.counts["dropped"] += 1
            return None
        except Exception:  # noqa: BLE001 - any parse failure of hostile input is FORMERR, never a crash
            self.counts["formerr"] += 1
            return formerr(wire)
        try:
            return self._answer(query, source, udp)
        except Exception:  # noqa: BLE001 - a bug must cost one answer, not the server
            self.log.exception("route53: failed to answer a query from %s", source)
            self.counts["servfail"] += 1
            return self._bare(query, dns.rcode.SERVFAIL)

    def _network_name(self, source: str) -> str:
        network = self.networks.lookup(source, 32)
        return "" if network is None else network.name

    def _fast(self, query: codec.Query, source: str, udp: bool, wire: bytes) -> bytes:
        ecs = query.ecs
        if ecs is None:
            network = self.networks.lookup(source, 32)
        else:
            network = self.networks.lookup(ecs.address, ecs.source_prefix) if ecs.source_prefix else None
        qname = self._names.get(query.labels)
        if qname is None:
            # Building a Name validates every label; names repeat, so keep them (bounded).
            if len(self._names) >= NAME_CACHE_SIZE:
                self._names.clear()
            qname = self._names[query.labels] = dns.name.Name(query.labels)
        qtype = dns.rdatatype.RdataType(query.qtype)  # an unknown number becomes a TYPEnnn member, never an error
        resolution = resolve(self.zones(), qname, qtype, self.health, network, self.rng)
        self.counts[resolution.rcode.value] += 1
        answer: list[bytes] = []
        authority: list[bytes] = []
        if resolution.rcode is Rcode.REFUSED:
            rcode, authoritative = dns.rcode.REFUSED, False
        else:
            rcode = dns.rcode.NXDOMAIN if resolution.rcode is Rcode.NXDOMAIN else dns.rcode.NOERROR
            authoritative = resolution.authoritative
            for rrset in resolution.answer:
                answer.extend(self._wire_rrs(rrset, qname))
            for rrset in resolution.authority:
                authority.extend(self._wire_rrs(rrset, qname))
        opt = None
        if query.edns:
            scope = 0
            if ecs is not None and resolution.client_dependent:
                scope = network.prefix_len if network is not None else ecs.source_prefix
            opt = codec.opt_record(ecs, scope, OUR_PAYLOAD)
        if not udp:
            limit = TCP_LIMIT
        elif query.edns:
            limit = max(UDP_LIMIT_NO_EDNS, min(query.payload, OUR_PAYLOAD))
        else:
            limit = UDP_LIMIT_NO_EDNS
        reply = codec.message(query, rcode, authoritative, answer, authority, opt, limit)
        if reply[2] & 0x02:
            self.counts["truncated"] += 1
        elif self.cache is not None and not resolution.randomized:
            by_source = ecs is None and resolution.client_dependent
            self.cache.put(udp, wire[2:], (network.name if network else "") if by_source else None,
                           resolution.rcode.value, reply[2:])
        return reply

    def _wire_rrs(self, rrset: RRSet, qname: dns.name.Name) -> list[bytes]:
        owner = codec.POINTER_TO_QNAME if rrset.name is qname else uncompressed_wire(rrset.name)
        ttl = self.scale.ttl(rrset.ttl_s)
        wires = rrset.wires
        if rrset.rtype == dns.rdatatype.SOA:
            # Scale MINIMUM too (RFC 2308 negative caching): it is the rdata's last 32 bits.
            wires = tuple(w[:-4] + struct.pack("!I", self.scale.ttl(struct.unpack("!I", w[-4:])[0]))
                          for w in wires)
        return [codec.rr(owner, int(rrset.rtype), ttl, w) for w in wires]

    def _bare(self, query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes | None:
        try:
            response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
            response.set_rcode(rcode)
            return response.to_wire(max_size=UDP_LIMIT_NO_EDNS, prefer_truncation=True)
        except Exception:  # noqa: BLE001
            return None

    def _answer(self, query: dns.message.Message, source: str, udp: bool) -> bytes | None:
        if query.flags & dns.flags.QR:
            self.counts["dropped"] += 1
            return None
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return self._render(response, query, udp)
        if query.edns > 0:
            response.use_edns(0, payload=OUR_PAYLOAD)
            response.set_rcode(dns.rcode.BADVERS)
            return self._render(response, query, udp)
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return self._render(response, query, udp)
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN or question.rdtype in _REFUSED_TYPES:
            response.set_rcode(dns.rcode.REFUSED)
            self.counts["REFUSED"] += 1
            return self._render(response, query, udp)
        ecs = next((o for o in query.options if isinstance(o, dns.edns.ECSOption)), None)
        network = self._network(ecs, source)
        resolution = resolve(self.zones(), question.name, question.rdtype, self.health, network, self.rng)
        self.counts[resolution.rcode.value] += 1
        self._fill(response, resolution)
        if ecs is not None:
            scope = 0
            if resolution.client_dependent:
                scope = network.prefix_len if network is not None else ecs.srclen
            response.use_edns(0, payload=OUR_PAYLOAD,
                              options=[dns.edns.ECSOption(ecs.address, ecs.srclen, scope)])
        return self._render(response, query, udp)

    def _network(self, ecs: dns.edns.ECSOption | None, source: str) -> ClientNetwork | None:
        if ecs is None:
            return self.networks.lookup(source, 32)
        if ecs.family != 1 or ecs.srclen == 0:
            # IPv6 subnets are unknown here; prefix 0 means "do not use my address" (RFC 7871 7.1.2).
            return None
        return self.networks.lookup(ecs.address, ecs.srclen)

    def _fill(self, response: dns.message.Message, resolution: Resolution) -> None:
        if resolution.rcode is Rcode.REFUSED:
            response.set_rcode(dns.rcode.REFUSED)
            return
        if resolution.rcode is Rcode.NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        if resolution.authoritative:
            response.flags |= dns.flags.AA
        for rrset in resolution.answer:
            response.answer.append(self._rrset(rrset))
        for rrset in resolution.authority:
            response.authority.append(self._rrset(rrset))

    def _rrset(self, rrset: RRSet) -> dns.rrset.RRset:
        ttl = self.scale.ttl(rrset.ttl_s)
        rdatas = rrset.rdatas
        if rrset.rtype == dns.rdatatype.SOA:
            # Negative caching uses min(SOA TTL, MINIMUM) (RFC 2308): scale MINIMUM as well.
            rdatas = tuple(rd.replace(minimum=self.scale.ttl(rd.minimum)) if isinstance(rd, dns.rdtypes.ANY.SOA.SOA)
                           else rd for rd in rdatas)
        return dns.rrset.from_rdata_list(rrset.name, ttl, rdatas)

    def _render(self, response: dns.message.Message, query: dns.message.Message, udp: bool) -> bytes:
        if not udp:
            limit = TCP_LIMIT
        elif query.edns >= 0:
            limit = max(UDP_LIMIT_NO_EDNS, min(query.payload, OUR_PAYLOAD))
        else:
            limit = UDP_LIMIT_NO_EDNS
        wire = response.to_wire(max_size=limit, prefer_truncation=True)
        if udp and wire[2] & 0x02:  # TC
            self.counts["truncated"] += 1
        return wire
