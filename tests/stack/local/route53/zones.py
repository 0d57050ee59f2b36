"""Builders for record sets in boto3's shape, and the client networks the conformance tests ask from."""
from __future__ import annotations

from typing import Any, Iterable

import dns.name

from stack.local.route53.network import ClientNetwork, Location
from stack.local.route53.records import RecordSet, parse_name
from stack.local.route53.zone import Zone, ZoneSet

APEX = "example.com."
ZONE_ID = "Z0000000000TEST"

VIRGINIA = ClientNetwork("virginia", Location("NA", "US", "VA"),
                         ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"), 24)
OREGON = ClientNetwork("oregon", Location("NA", "US", "OR"),
                       ("us-west-2", "us-east-1", "ap-southeast-1", "eu-central-1"), 24)
FRANKFURT = ClientNetwork("frankfurt", Location("EU", "DE", "HE"),
                          ("eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"), 24)
SINGAPORE = ClientNetwork("singapore", Location("AS", "SG", ""),
                          ("ap-southeast-1", "us-west-2", "us-east-1", "eu-central-1"), 24)
PARIS = ClientNetwork("paris", Location("EU", "FR", ""), ("eu-central-1", "us-east-1"), 24)
TORONTO = ClientNetwork("toronto", Location("NA", "CA", "ON"), ("us-east-1", "us-west-2"), 24)


def apex_records(apex: str = APEX, soa_ttl: int = 900, minimum: int = 300) -> list[dict[str, Any]]:
    return [
        {"Name": apex, "Type": "SOA", "TTL": soa_ttl, "ResourceRecords": [
            {"Value": f"ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 {minimum}"}]},
        {"Name": apex, "Type": "NS", "TTL": 172800, "ResourceRecords": [
            {"Value": "ns-1.awsdns-01.org."}, {"Value": "ns-2.awsdns-02.net."}]},
    ]


def rec(name: str, *values: str, rtype: str = "A", ttl: int = 60, **routing: Any) -> dict[str, Any]:
    """A record set: ``rec("www", "192.0.2.1", Weight=10, SetIdentifier="a", HealthCheckId="hc")``."""
    data: dict[str, Any] = {"Name": qualify(name), "Type": rtype, "TTL": ttl,
                            "ResourceRecords": [{"Value": v} for v in values]}
    data.update(routing)
    return data


def alias(name: str, target: str, evaluate: bool = True, rtype: str = "A", **routing: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"Name": qualify(name), "Type": rtype, "AliasTarget": {
        "HostedZoneId": ZONE_ID, "DNSName": qualify(target), "EvaluateTargetHealth": evaluate}}
    data.update(routing)
    return data


def qualify(name: str) -> str:
    if name.endswith("."):
        return name
    return APEX if name == "@" else f"{name}.{APEX}"


def zone_of(records: Iterable[dict[str, Any]], apex: str = APEX, with_apex: bool = True) -> Zone:
    parsed = [RecordSet.from_api(r) for r in (apex_records(apex) if with_apex else []) + list(records)]
    return Zone.build(parse_name(apex), ZONE_ID, parsed)


def zones_of(*zones: Zone) -> ZoneSet:
    return ZoneSet.of(zones)


def qname(name: str) -> dns.name.Name:
    return dns.name.from_text(qualify(name))
