"""The validated model of an environment file.

Two kinds share one shape where they can: ``local`` (the local stack, everything on 127.0.0.0/8)
and ``aws`` (a real account, found by tags). SLOs are in AWS-equivalent seconds, so one SLO
means the same thing on both kinds; ``time_scale`` only applies to the local stack, and code reads it
as ``environment.timescale`` (a ``base.timescale.TimeScale``; 1 on AWS).
"""
from __future__ import annotations

import ipaddress
import re
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from base.errors import SettingsError
from base.timescale import DEFAULT_TIME_SCALE, TimeScale
from environments import outposts as outposts_, scenarios as scenarios_
from environments.sites import Site, iso_country, site_problems

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
CONTINENTS = ("AF", "AN", "AS", "EU", "OC", "NA", "SA")
CHECKER_REGIONS = (
    "us-east-1", "us-west-1", "us-west-2", "eu-west-1",
    "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1",
)


@cache
def known_regions() -> frozenset[str]:
    """Every commercial AWS Region botocore knows, so a typo is caught before any call.

    Read from botocore's endpoint data, not through a Session: a Session reads AWS_PROFILE and the
    config files, and an environment file does not depend on them (AWS_PROFILE=nosuch must not break it).
    """
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    return frozenset(EndpointResolver(create_loader().load_data("endpoints")).get_available_endpoints("ec2", "aws"))


def _raise_all(problems: list[str]) -> None:
    """Report every problem a check found, one per line, not only the first."""
    if problems:
        raise ValueError("\n".join(problems))


def _region_problem(value: str) -> list[str]:
    try:
        _region(value)
    except ValueError as error:
        return [str(error)]
    return []


class Model(BaseModel):
    # allow_inf_nan=False: NaN compares false with every bound (it passed ">= 0") and infinity passed them all.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _region(value: str) -> str:
    if value not in known_regions():
        raise ValueError(f"unknown AWS Region {value!r}; known: {', '.join(sorted(known_regions()))}")
    return value


def _ipv4_network(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 127.16.1.0/24 ({error})") from None


class AvailabilityZone(Model):
    subnet_cidr: str

    @field_validator("subnet_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        _ipv4_network(value)
        return value

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet_cidr)


class Region(Model):
    role: Literal["active", "dr"] = "active"
    vpc_cidr: str
    availability_zones: dict[str, AvailabilityZone] = Field(min_length=1)

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = _ipv4_network(value)
        if not 16 <= network.prefixlen <= 28:
            raise ValueError(f"{value!r} has prefix /{network.prefixlen}; a VPC CIDR must be /16 to /28")
        return value

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.vpc_cidr)


class VantagePoint(Model):
    """A place users come from: their client subnet, their location, and their RTT to each Region."""

    subnet: str
    continent: str
    country: str
    subdivision: str = ""
    rtt_ms: dict[str, float]

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        _ipv4_network(value)
        return value

    @field_validator("continent")
    @classmethod
    def _continent(cls, value: str) -> str:
        if value not in CONTINENTS:
            raise ValueError(f"unknown continent {value!r}; allowed: {', '.join(CONTINENTS)}")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return iso_country(value)

    @field_validator("rtt_ms")
    @classmethod
    def _rtt(cls, value: dict[str, float]) -> dict[str, float]:
        problems = []
        for region, rtt in value.items():
            problems += _region_problem(region)
            if rtt < 0:
                problems.append(f"RTT to {region} is {rtt} ms; it must be >= 0")
        _raise_all(problems)
        return value

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)


class EdgeLocation(Model):
    """A CloudFront edge location on the local stack: its loopback address and its RTT to each Region."""

    address: str
    rtt_ms: dict[str, float]

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 address such as 127.230.0.1") from None
        return value

    @field_validator("rtt_ms")
    @classmethod
    def _rtt(cls, value: dict[str, float]) -> dict[str, float]:
        _raise_all([p for region, rtt in value.items() for p in _region_problem(region)]
                   + [f"RTT to {region} is {rtt} ms; it must be >= 0" for region, rtt in value.items() if rtt < 0])
        return value

    @property
    def ip(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(self.address)


class ScenarioSLO(Model):
    """Recovery objectives for one scenario, in AWS-equivalent seconds."""

    rto_s: float = Field(ge=0)
    rpo_s: float = Field(default=0, ge=0)
    # A cap on lost acknowledged orders; None means only the time-based RPO applies (asynchronous DR).
    lost_orders: int | None = Field(default=None, ge=0)


class SLOs(Model):
    checkout_p95_latency_ms: float = Field(gt=0)
    stability_window_s: float = Field(default=30, gt=0)
    scenarios: dict[str, ScenarioSLO] = Field(default_factory=dict)
    # The product catalog (a DynamoDB global table), in AWS-equivalent seconds: how long a Region may keep
    # serving a price another Region changed (the replication RPO, pause included), and how soon every
    # Region serves it once replication resumes. None: the catalog experiments have no objective to judge.
    catalog_staleness_s: float | None = Field(default=None, gt=0)
    catalog_convergence_s: float | None = Field(default=None, gt=0)

    @field_validator("scenarios")
    @classmethod
    def _scenario_names(cls, value: dict[str, ScenarioSLO]) -> dict[str, ScenarioSLO]:
        _raise_all(scenarios_.misspelt(value))
        return value

    @model_validator(mode="after")
    def _catalog(self) -> "SLOs":
        staleness, convergence = self.catalog_staleness_s, self.catalog_convergence_s
        if staleness is not None and convergence is not None and convergence > staleness:
            raise ValueError(f"slos.catalog_convergence_s {convergence:g} is longer than slos.catalog_staleness_s "
                             f"{staleness:g}: the staleness window includes the convergence after resume, so it "
                             "must be at least as long")
        return self


class ReferenceStack(Model):
    """What the builder creates: SecureCart's zone, database and checkout fleet."""

    zone: str = "securecart.example."
    database_identifier: str = "orders"
    database_region: str = "us-east-1"
    replica_region: str | None = "ap-southeast-1"
    checkout_port: int = Field(default=8080, ge=1, le=65535)
    checkout_instances_per_az: int = Field(default=1, ge=0, le=10)
    health_check_interval_s: Literal[10, 30] = 10
    health_check_failure_threshold: int = Field(default=3, ge=1, le=10)
    record_ttl_s: int = Field(default=60, ge=0, le=2147483647)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not re.fullmatch(r"([a-z0-9-]+\.)+", value):
            raise ValueError(f"{value!r} is not a fully qualified lower-case zone name ending in '.'")
        return value

    @field_validator("database_region", "replica_region")
    @classmethod
    def _regions(cls, value: str | None) -> str | None:
        return value if value is None else _region(value)


class LocalSettings(Model):
    """Where the local stack listens. Instance k > 0 shifts ports and addresses (see stack.local.instance)."""

    aws_endpoint_port: int = Field(default=4566, ge=1024, le=65535)
    dns_port: int = Field(default=10053, ge=1024, le=65535)
    edge_http_port: int = Field(default=80, ge=1, le=65535)  # CloudFront's edge locations (HTTP)


class DynamoDbSettings(Model):
    """DynamoDB global tables on the local stack, in AWS seconds (before time_scale)."""

    # Added to the inter-Region RTT to give a replicated write's delay (AWS quotes about 1 s typical).
    replication_processing_s: float = Field(default=1.0, ge=0, le=3600)
    # How long a new replica stays CREATING before it is ACTIVE (AWS: minutes for an empty table).
    replica_creation_s: float = Field(default=60.0, ge=0, le=86400)
    # How often the TTL sweep deletes expired items (AWS: typically within a few days of expiry).
    ttl_sweep_s: float = Field(default=300.0, gt=0, le=86400)
    # How often ReplicationLatency is published to CloudWatch (AWS: one-minute data points).
    metric_period_s: float = Field(default=60.0, gt=0, le=3600)


RDS_PHASES = ("failover_shutdown_s", "failover_promote_s", "failover_dns_s", "failover_detection_s", "reboot_s",
              "promote_replica_s")
RDS_PHASE_MAX_S = 3600.0


class RdsSettings(Model):
    """RDS's process timings on the local stack, in AWS seconds (before time_scale). What is left out keeps
    RDS's default (stack.local.rds.timing.RdsTiming, which also says what each one is)."""

    # Phases: [min_s, max_s]; each run takes a duration sampled in that range.
    failover_shutdown_s: list[float] | None = None
    failover_promote_s: list[float] | None = None
    failover_dns_s: list[float] | None = None
    failover_detection_s: list[float] | None = None
    reboot_s: list[float] | None = None
    promote_replica_s: list[float] | None = None
    log_shipping_interval_s: float | None = Field(default=None, gt=0, le=3600)
    metric_interval_s: float | None = Field(default=None, gt=0, le=3600)
    health_check_interval_s: float | None = Field(default=None, gt=0, le=300)
    endpoint_ttl_s: float | None = Field(default=None, ge=0, le=86400)
    replication_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    seed: int | None = Field(default=None, ge=0)  # the phases' random draws, for a reproducible run

    @field_validator(*RDS_PHASES)
    @classmethod
    def _phase(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not (len(value) == 2 and 0 <= value[0] <= value[1] <= RDS_PHASE_MAX_S):
            written = "[" + ", ".join(f"{number:g}" for number in value) + "]"  # as in the file: 60, not 60.0
            raise ValueError(f"{written} is not allowed; give [min_s, max_s] with 0 <= min_s <= max_s <= "
                             f"{RDS_PHASE_MAX_S:g}")
        return value

    def overrides(self) -> dict[str, Any]:
        """The timings the file sets, by name (phases as [min_s, max_s])."""
        return self.model_dump(exclude_none=True)


class StopCondition(Model):
    """A CloudWatch alarm that stops the run: checked before each fault, watched while it is active."""

    alarm_name: str = Field(min_length=1)
    region: str

    @field_validator("region")
    @classmethod
    def _r(cls, value: str) -> str:
        return _region(value)


class Base(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    account_id: str = Field(pattern=r"^[0-9]{12}$")
    regions: dict[str, Region] = Field(min_length=1)
    vantage_points: dict[str, VantagePoint] = Field(default_factory=dict)
    sites: dict[str, Site] = Field(default_factory=dict)  # outside AWS (environments.sites)
    health_checker_regions: list[str] = Field(default_factory=lambda: list(CHECKER_REGIONS))
    slos: SLOs
    stack: ReferenceStack = ReferenceStack()
    stop_conditions: list[StopCondition] = Field(default_factory=list)
    stop_condition_interval_s: float = Field(default=10, gt=0)  # AWS-equivalent seconds between alarm reads
    # Site actions run the team's commands on a real estate; the local stack cuts fabric links instead.
    site_actions_run_commands: ClassVar[bool] = False
    outposts: dict[str, outposts_.Outpost] = Field(default_factory=dict)  # environments/outposts.py
    site_actions: dict[str, outposts_.SiteAction] = Field(default_factory=dict)

    _source: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        """The file this environment was loaded from ("" when built in code): errors found later name it."""
        return self._source

    def loaded_from(self, source: str) -> "Base":
        self._source = source
        return self

    @field_validator("regions")
    @classmethod
    def _region_names(cls, value: dict[str, Region]) -> dict[str, Region]:
        problems = []
        for name, region in value.items():
            problems += _region_problem(name)
            for az in region.availability_zones:
                if not re.fullmatch(re.escape(name) + r"[a-z]", az):
                    problems.append(f"Availability Zone {az!r} is not in {name}; expected {name}a, {name}b, ...")
        _raise_all(problems)
        return value

    @field_validator("health_checker_regions")
    @classmethod
    def _checkers(cls, value: list[str]) -> list[str]:
        problems = [f"{r!r} is not a Route 53 health-checker Region; allowed: {', '.join(CHECKER_REGIONS)}"
                    for r in value if r not in CHECKER_REGIONS]
        if len(set(value)) < 3:
            problems.append(f"Route 53 needs at least 3 checker Regions, got {len(set(value))}")
        _raise_all(problems)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> "Base":
        # One validator for the whole model: pydantic stops at the first after-validator that raises.
        _raise_all(self._problems())
        return self

    def _problems(self) -> list[str]:
        """Checks that span several fields; each kind of environment adds its own."""
        problems = []
        for vp_name, vp in self.vantage_points.items():
            problems += [f"vantage_points.{vp_name}.rtt_ms names {unknown!r}, which is not in regions"
                         for unknown in sorted(set(vp.rtt_ms) - set(self.regions))]
        problems += site_problems(self.sites, set(self.regions))
        for field in ("database_region", "replica_region"):
            region = getattr(self.stack, field)
            if region is not None and region not in self.regions:
                problems.append(f"stack.{field} {region!r} is not one of this environment's regions: {sorted(self.regions)}")
        problems += outposts_.problems(self.outposts, self.site_actions, self.sites, set(self.regions),
                                       {az for r in self.regions.values() for az in r.availability_zones},
                                       needs_commands=self.site_actions_run_commands)
        return problems

    @property
    def active_regions(self) -> list[str]:
        return [name for name, region in self.regions.items() if region.role == "active"]

    @property
    def dr_regions(self) -> list[str]:
        return [name for name, region in self.regions.items() if region.role == "dr"]


class LocalEnvironment(Base):
    kind: Literal["local"]
    time_scale: float = DEFAULT_TIME_SCALE
    region_rtt_ms: dict[str, dict[str, float]] = Field(default_factory=dict)
    local: LocalSettings = LocalSettings()
    rds: RdsSettings = RdsSettings()
    dynamodb: DynamoDbSettings = DynamoDbSettings()
    # Where the bot-flood experiment's bots come from: vantage-point-like subnets that are not users
    # (no probe samples them), placed on the map like a vantage point for the WAF's geo match.
    bots: dict[str, VantagePoint] = Field(default_factory=dict)
    # CloudFront edge locations by code (IAD, FRA...), each one loopback address; see stack.local.cloudfront.
    edge_locations: dict[str, EdgeLocation] = Field(default_factory=dict)
    # Global Accelerator's static addresses (IpSets): two per accelerator, one /24 each.
    accelerator_cidr: str = "127.240.0.0/16"

    @field_validator("accelerator_cidr")
    @classmethod
    def _accelerator_cidr(cls, value: str) -> str:
        _ipv4_network(value)
        return value

    @field_validator("time_scale")
    @classmethod
    def _time_scale(cls, value: float) -> float:
        try:  # the one check of the range is TimeScale's
            TimeScale(value)
        except SettingsError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def timescale(self) -> TimeScale:
        """How AWS's durations map to wall-clock time on this stack."""
        return TimeScale(self.time_scale)

    def _problems(self) -> list[str]:
        # The network rule: every address the local stack uses is in 127.0.0.0/8.
        networks = [(f"regions.{n}.vpc_cidr", r.network) for n, r in self.regions.items()]
        networks += [
            (f"regions.{n}.availability_zones.{az}.subnet_cidr", zone.network)
            for n, r in self.regions.items() for az, zone in r.availability_zones.items()
        ]
        networks += [(f"vantage_points.{n}.subnet", vp.network) for n, vp in self.vantage_points.items()]
        networks += [("accelerator_cidr", ipaddress.IPv4Network(self.accelerator_cidr))]
        networks += [(f"bots.{n}.subnet", bot.network) for n, bot in self.bots.items()]
        networks += [(f"sites.{n}.cidr", site.network) for n, site in self.sites.items()]
        problems = super()._problems()
        for where, network in networks:
            if not network.subnet_of(LOOPBACK):
                problems.append(f"{where} {str(network)!r} is outside 127.0.0.0/8; a local environment only uses loopback addresses")
        for name, region in self.regions.items():
            for az, zone in region.availability_zones.items():
                if not zone.network.subnet_of(region.network):
                    problems.append(f"regions.{name}.availability_zones.{az}.subnet_cidr {zone.subnet_cidr!r} "
                                    f"is not inside the VPC {region.vpc_cidr}")
        # VPCs and vantage subnets must be disjoint, and so must the subnets of one VPC.
        top_level = [(w, n) for w, n in networks if w.endswith(("vpc_cidr", "accelerator_cidr"))
                     or w.startswith(("vantage_points.", "bots.", "sites."))]
        subnets = [(w, n) for w, n in networks if ".availability_zones." in w]
        for group in (top_level, subnets):
            for i, (where, network) in enumerate(group):
                for other, other_net in group[:i]:
                    if network.overlaps(other_net):
                        problems.append(f"{where} {str(network)!r} overlaps {other} {str(other_net)!r}")
        problems += [f"bots.{n}.rtt_ms names {unknown!r}, which is not in regions"
                     for n, bot in self.bots.items() for unknown in sorted(set(bot.rtt_ms) - set(self.regions))]
        # The fabric delays every packet by these figures: a missing one would be 0 ms, a user beside every Region.
        problems += [f"{group}.{name}.rtt_ms has no RTT to {region}; the local stack needs one to every Region"
                     for group, points in (("vantage_points", self.vantage_points), ("bots", self.bots))
                     for name, point in points.items() for region in self.regions if region not in point.rtt_ms]
        problems += self._edge_problems(networks)
        problems += self._region_rtt_problems()
        return problems

    def _region_rtt_problems(self) -> list[str]:
        unknown = {r for a, row in self.region_rtt_ms.items() for r in (a, *row) if r not in self.regions}
        problems = [f"region_rtt_ms names {region!r}, which is not in regions" for region in sorted(unknown)]
        problems += [f"region_rtt_ms.{a}.{b} is {rtt} ms; it must be >= 0"
                     for a, row in self.region_rtt_ms.items() for b, rtt in row.items() if rtt < 0]
        problems += [f"region_rtt_ms.{a}.{a}: the RTT within one Region is 0; give only pairs of different Regions"
                     for a, row in self.region_rtt_ms.items() if a in row]
        names = list(self.regions)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                there, back = self.region_rtt_ms.get(a, {}).get(b), self.region_rtt_ms.get(b, {}).get(a)
                if there is None and back is None:
                    problems.append(f"region_rtt_ms has no RTT between {a} and {b}; give region_rtt_ms.{a}.{b} "
                                    "(every pair of Regions needs one, in either order)")
                elif there is not None and back is not None and there != back:
                    problems.append(f"region_rtt_ms.{a}.{b} is {there:g} ms but region_rtt_ms.{b}.{a} is {back:g} ms; "
                                    "an RTT is the same both ways: give it once")
        return problems

    def _edge_problems(self, networks: list[tuple[str, ipaddress.IPv4Network]]) -> list[str]:
        problems = []
        seen: dict[ipaddress.IPv4Address, str] = {}
        for code, edge in self.edge_locations.items():
            where = f"edge_locations.{code}"
            if not re.fullmatch(r"[A-Z]{3}", code):
                problems.append(f"{where}: {code!r} is not an edge location code; use three capital letters such as FRA")
            if edge.ip not in LOOPBACK:
                problems.append(f"{where}.address {edge.address!r} is outside 127.0.0.0/8; a local environment only uses "
                                f"loopback addresses")
            if edge.ip in seen:
                problems.append(f"{where}.address {edge.address!r} is also edge_locations.{seen[edge.ip]}.address")
            seen[edge.ip] = code
            problems += [f"{where}.address {edge.address!r} is inside {other} {str(net)!r}" for other, net in networks
                         if edge.ip in net and (other.endswith("vpc_cidr") or other.startswith("vantage_points."))]
            problems += [f"{where}.rtt_ms names {r!r}, which is not in regions" for r in sorted(set(edge.rtt_ms) - set(self.regions))]
            problems += [f"{where}.rtt_ms has no RTT to {r}" for r in sorted(set(self.regions) - set(edge.rtt_ms))]
        return problems

    def rtt_ms(self, a: str, b: str) -> float:
        """Round-trip time between two Regions; 0 within one Region. The matrix may give either order."""
        if a == b:
            return 0.0
        if b in self.region_rtt_ms.get(a, {}):
            return self.region_rtt_ms[a][b]
        if a in self.region_rtt_ms.get(b, {}):
            return self.region_rtt_ms[b][a]
        raise KeyError(f"region_rtt_ms has no entry for {a} <-> {b}")


class Discovery(Model):
    """How gameday finds an existing stack's resources in a real account."""

    tag_key: str = "gameday:stack"
    tag_value: str = "securecart"
    # Attach mode (stack.discovery): which of the stack's instances run checkout.
    role_tag_key: str = "gameday:role"
    checkout_role: str = "checkout"


class AwsEnvironment(Base):
    kind: Literal["aws"]
    site_actions_run_commands: ClassVar[bool] = True
    allowed_regions: list[str] = Field(min_length=1)
    discovery: Discovery = Discovery()
    target_tag: str = Field(default="gameday:target=true", pattern=r"^[^=]+=[^=]*$")
    injector: Literal["api", "fis"] = "api"
    fis_role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")
    profile: str | None = None

    @field_validator("allowed_regions")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        _raise_all([problem for region in value for problem in _region_problem(region)])
        return value

    def _problems(self) -> list[str]:
        return super()._problems() + [f"regions names {name!r}, which is not in allowed_regions "
                                      f"{list(self.allowed_regions)}" for name in self.regions if name not in self.allowed_regions]

    @property
    def time_scale(self) -> float:
        return TimeScale.REAL.factor

    @property
    def timescale(self) -> TimeScale:
        return TimeScale.REAL


Environment = Annotated[Union[LocalEnvironment, AwsEnvironment], Field(discriminator="kind")]
