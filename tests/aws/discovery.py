"""Find SecureCart's resources in an account, read-only: the hosted zone, its name servers, each Region's
multivalue record set and the health checks that carry the target tag. The IAM scenario runs it too, so the
game-day policy covers these reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from environments.model import AwsEnvironment, LocalEnvironment
from faults.guard import Policy
from stack.builder import record_names
from stack.handles import RecordNames

ClientFactory = Callable[[str, str], Any]


@dataclass(frozen=True)
class SecureCart:
    zone_id: str
    names: RecordNames
    name_servers: tuple[str, ...]
    database_region: str
    database_identifier: str
    health_checks: dict[str, list[str]]  # Region -> ids of its instances' health checks that carry the target tag
    regional_addresses: dict[str, set[str]]  # Region -> addresses in its multivalue record set


def find(clients: ClientFactory, environment: AwsEnvironment | LocalEnvironment) -> SecureCart | None:
    """The stack as Route 53 describes it; None when its hosted zone does not exist."""
    key, value = Policy.for_environment(environment).target_tag
    route53 = clients("route53", "us-east-1")
    zones = [z for z in route53.list_hosted_zones_by_name(DNSName=environment.stack.zone)["HostedZones"]
             if z["Name"] == environment.stack.zone]
    if not zones:
        return None
    zone_id = zones[0]["Id"].split("/")[-1]
    name_servers = tuple(route53.get_hosted_zone(Id=zone_id).get("DelegationSet", {}).get("NameServers", []))
    names = record_names(environment.stack.zone)
    checks: dict[str, list[str]] = {}
    addresses: dict[str, set[str]] = {}
    for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for record in page["ResourceRecordSets"]:
            region = next((r for r in environment.regions if record["Name"] == names.regional(r)), None)
            if region is None:
                continue
            addresses.setdefault(region, set()).update(r["Value"] for r in record.get("ResourceRecords", []))
            check = record.get("HealthCheckId")
            if check:
                tags = route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check)["ResourceTagSet"]
                if {t["Key"]: t["Value"] for t in tags.get("Tags", [])}.get(key) == value:
                    checks.setdefault(region, []).append(check)
    return SecureCart(zone_id, names, name_servers, environment.stack.database_region,
                      environment.stack.database_identifier, checks, addresses)
