"""Resource record sets as frozen dataclasses, parsed at the boundary from boto3's response shape.

``RecordSet.from_api`` takes one element of ``list_resource_record_sets()["ResourceRecordSets"]``.
Values are parsed into dnspython rdata once, here, so answering a query never parses text.
"""
from __future__ import annotations

import ast
import enum
import io
import re
from dataclasses import dataclass
from typing import Any, Mapping

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from stack.local.route53.errors import RecordError

# Route 53 writes characters outside [a-z0-9_-] as a backslash and three OCTAL digits ("\052" is "*"),
# while master-file syntax (and dnspython) reads "\DDD" as DECIMAL. Translate before parsing.
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class Policy(enum.Enum):
    """A record's routing policy, told by which routing field it carries."""

    SIMPLE = "simple"
    WEIGHTED = "weighted"
    LATENCY = "latency"
    GEOLOCATION = "geolocation"
    FAILOVER = "failover"
    MULTIVALUE = "multivalue"
    NETWORK = "network"  # service-owned names only: one answer per client network (a CloudFront distribution's edges)


def parse_name(text: str) -> dns.name.Name:
    """An absolute DNS name from Route 53's spelling (octal escapes, trailing dot optional).

    Raises RecordError naming the text when it is not a valid domain name.
    """
    def decimal(match: re.Match[str]) -> str:
        return "\\%03d" % int(match.group(1), 8)

    try:
        return dns.name.from_text(_OCTAL_ESCAPE.sub(decimal, text), origin=dns.name.root)
    except dns.exception.DNSException as error:
        raise RecordError(f"record name {text!r} is not a valid domain name: {error}") from None


@dataclass(frozen=True)
class GeoLocation:
    continent_code: str = ""
    country_code: str = ""  # "*" marks the default record
    subdivision_code: str = ""

    @property
    def is_default(self) -> bool:
        return self.country_code == "*"


@dataclass(frozen=True)
class AliasTarget:
    hosted_zone_id: str
    dns_name: dns.name.Name
    evaluate_target_health: bool


@dataclass(frozen=True)
class RecordSet:
    """One resource record set, with its values already in wire-ready form."""

    name: dns.name.Name
    rtype: dns.rdatatype.RdataType
    ttl_s: int  # 0 for alias records: an alias answers with its target's TTL
    rdatas: tuple[dns.rdata.Rdata, ...]
    wires: tuple[bytes, ...] = ()  # each rdata in (uncompressed) wire format, for the fast responder
    set_identifier: str = ""
    weight: int | None = None
    region: str = ""
    geolocation: GeoLocation | None = None
    failover: str = ""  # "PRIMARY" or "SECONDARY"
    multivalue: bool = False
    health_check_id: str = ""
    alias: AliasTarget | None = None
    # Service-owned records only (catalog.set_routed_record): the client networks this record answers, "*" for anyone else.
    client_networks: frozenset[str] = frozenset()

    @property
    def policy(self) -> Policy:
        if self.client_networks:
            return Policy.NETWORK
        if self.weight is not None:
            return Policy.WEIGHTED
        if self.region:
            return Policy.LATENCY
        if self.geolocation is not None:
            return Policy.GEOLOCATION
        if self.failover:
            return Policy.FAILOVER
        if self.multivalue:
            return Policy.MULTIVALUE
        return Policy.SIMPLE

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> "RecordSet":
        """Parse one ``ResourceRecordSets`` element. Raises RecordError naming the record and the bad field."""
        name = parse_name(str(data.get("Name", "")))
        where = f"record {name} {data.get('Type')!r}"
        try:
            rtype = dns.rdatatype.from_text(str(data.get("Type", "")))
        except dns.exception.DNSException:
            raise RecordError(f"{where}: Type is not a DNS record type") from None
        alias = None
        if data.get("AliasTarget"):
            target = data["AliasTarget"]
            alias = AliasTarget(
                hosted_zone_id=str(target.get("HostedZoneId", "")).rsplit("/", 1)[-1],
                dns_name=parse_name(str(target.get("DNSName", ""))),
                evaluate_target_health=bool(target.get("EvaluateTargetHealth", False)),
            )
        rdatas = tuple(_rdata(rtype, item.get("Value", ""), where) for item in data.get("ResourceRecords") or ())
        if alias is None and not rdatas:
            raise RecordError(f"{where}: has neither ResourceRecords nor AliasTarget")
        geo = data.get("GeoLocation")
        weight = data.get("Weight")
        failover = str(data.get("Failover") or "")
        if failover not in ("", "PRIMARY", "SECONDARY"):
            raise RecordError(f"{where}: Failover {failover!r} is not allowed; allowed: PRIMARY, SECONDARY")
        return cls(
            name=name,
            rtype=rtype,
            ttl_s=int(data.get("TTL") or 0),
            rdatas=rdatas,
            wires=tuple(uncompressed_wire(rd) for rd in rdatas),
            set_identifier=str(data.get("SetIdentifier") or ""),
            weight=None if weight is None else int(weight),
            region=str(data.get("Region") or ""),
            geolocation=None if not geo else GeoLocation(
                continent_code=str(geo.get("ContinentCode") or ""),
                country_code=str(geo.get("CountryCode") or ""),
                subdivision_code=str(geo.get("SubdivisionCode") or ""),
            ),
            failover=failover,
            multivalue=bool(data.get("MultiValueAnswer", False)),
            health_check_id=str(data.get("HealthCheckId") or ""),
            alias=alias,
        )


def uncompressed_wire(value: dns.name.Name | dns.rdata.Rdata) -> bytes:
    """A name's or an rdata's uncompressed wire form.

    Written into a buffer: dnspython's ``to_wire()`` returns bytes only when given no file, but its
    signature says ``bytes | None`` for both uses.
    """
    buffer = io.BytesIO()
    value.to_wire(buffer)
    return buffer.getvalue()


def _rdata(rtype: dns.rdatatype.RdataType, value: object, where: str) -> dns.rdata.Rdata:
    text = str(value)
    # moto (5.x) stores the apex SOA's value as the repr of a dict: "{'Value': 'ns-... 1 7200 ...'}".
    if text.startswith("{'Value':"):
        try:
            text = str(ast.literal_eval(text)["Value"])
        except (ValueError, SyntaxError, KeyError, TypeError):
            pass
    try:
        # Route 53 values are absolute whether or not they end in a dot.
        return dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=dns.name.root, relativize=False)
    except (dns.exception.DNSException, ValueError) as error:
        raise RecordError(f"{where}: value {text!r} is not valid {dns.rdatatype.to_text(rtype)} data: {error}") from None
