"""Typed handles to the built reference stack, which experiments, faults and probes use."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SubnetHandle:
    region: str
    availability_zone: str
    subnet_id: str
    cidr: str
    vpc_id: str


@dataclass(frozen=True)
class InstanceHandle:
    instance_id: str
    region: str
    availability_zone: str
    subnet_id: str
    private_ip: str
    health_check_id: str
    port: int


@dataclass(frozen=True)
class DatabaseHandle:
    identifier: str
    region: str
    endpoint: str | None  # None until RDS reports an endpoint
    port: int
    multi_az: bool
    secret_id: str  # Secrets Manager secret holding the master credentials (never the password itself)


@dataclass(frozen=True)
class CatalogHandle:
    """The product catalog: a DynamoDB global table with a replica in each of ``regions`` (stack.catalog)."""

    table: str
    home_region: str  # where it was created
    regions: tuple[str, ...]  # every replica, ACTIVE when the build returned
    admin_secret_id: str  # Secrets Manager secret (home Region) holding checkout's admin token


@dataclass(frozen=True)
class CdnHandle:
    """SecureCart's CloudFront distribution in front of its assets bucket and checkout (stack.cdn)."""

    distribution_id: str
    domain_name: str  # dXXXX.cloudfront.net
    arn: str
    bucket: str  # the assets' S3 bucket: objects put there are served through the distribution
    bucket_region: str
    api_origins: tuple[str, ...]  # the origin group's members' domain names, primary first
    api_path: str  # the cache behaviour's path pattern that goes to the origin group


@dataclass(frozen=True)
class RecordNames:
    """The DNS names SecureCart's users and probes resolve."""

    checkout: str  # failover: PRIMARY -> geo tree, SECONDARY -> DR Region
    geo: str  # geolocation: EU -> eu-central-1, default -> latency
    latency: str  # latency across the active Regions
    canary: str  # weighted canary between two active Regions
    database: str  # CNAME to the writer's endpoint: checkout connects here; the Region-DR runbook repoints it

    def regional(self, region: str) -> str:
        """The multivalue set of one Region's instances."""
        return f"{region}.{self.checkout}"


@dataclass(frozen=True)
class ReferenceStack:
    environment_name: str
    zone_id: str
    zone_name: str
    names: RecordNames
    subnets: tuple[SubnetHandle, ...]
    instances: tuple[InstanceHandle, ...]
    database: DatabaseHandle | None
    replica: DatabaseHandle | None
    extra: dict[str, str] = field(default_factory=dict)
    catalog: CatalogHandle | None = None
    cdn: CdnHandle | None = None

    def subnet(self, availability_zone: str) -> SubnetHandle:
        for subnet in self.subnets:
            if subnet.availability_zone == availability_zone:
                return subnet
        raise KeyError(f"no subnet in {availability_zone}; known: {', '.join(s.availability_zone for s in self.subnets)}")

    def instances_in(self, region: str | None = None, availability_zone: str | None = None) -> tuple[InstanceHandle, ...]:
        return tuple(i for i in self.instances
                     if (region is None or i.region == region)
                     and (availability_zone is None or i.availability_zone == availability_zone))
