"""DNS answers as each vantage point sees them, asked of the authoritative server.

The query carries the vantage point's subnet as EDNS Client Subnet, so latency and geolocation
routing decide as they would for that user; a truncated UDP answer is retried over TCP, as a
resolver would.
"""
from __future__ import annotations

from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from probes.sampler import Sampler


@dataclass(frozen=True)
class Answer:
    name: str
    addresses: tuple[str, ...]
    ttl_s: int | None
    rcode: str
    ecs_scope: int | None


def query(name: str, server: str, port: int = 53, client_subnet: str | None = None, timeout_s: float = 2.0,
          source_address: str | None = None) -> Answer:
    """One A query, following the answer's CNAME chain within the response. Raises dns.exception.Timeout."""
    options: list[dns.edns.Option] = []
    if client_subnet:
        address, _, prefix = client_subnet.partition("/")
        options.append(dns.edns.ECSOption(address, int(prefix or 32)))
    message = dns.message.make_query(name, dns.rdatatype.A, use_edns=0, options=options)
    message.flags &= ~dns.flags.RD  # asking the authority, not a recursive resolver
    response = dns.query.udp(message, server, port=port, timeout=timeout_s, source=source_address)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(message, server, port=port, timeout=timeout_s, source=source_address)
    addresses: list[str] = []
    ttls = []
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.A:
            addresses.extend(rdata.address for rdata in rrset)
            ttls.append(rrset.ttl)
    scope = next((option.scopelen for option in response.options if isinstance(option, dns.edns.ECSOption)), None)
    return Answer(name, tuple(sorted(addresses)), min(ttls) if ttls else None,
                  dns.rcode.to_text(response.rcode()), scope)


def sampler(name: str, server: str, port: int, vantage: str, client_subnet: str | None, interval_s: float,
            timeout_s: float = 1.0) -> Sampler[Answer]:
    """Sample ``name`` as ``vantage`` sees it; a sample is ok when the answer has at least one address."""
    return Sampler(f"dns:{name}", vantage, lambda: query(name, server, port, client_subnet, timeout_s),
                   interval_s, ok=lambda answer: answer.rcode == "NOERROR" and bool(answer.addresses))
