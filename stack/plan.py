"""The build's dry run: what the builder would create, Region by Region, with an hourly cost estimate.

Nothing is created. The plan is the reference stack the environment describes, as a build on an empty
account makes it (a build creates only what is missing); given clients, it also reads the AMI each
Region's checkout instances would boot (the public AL2023 parameter), so a Region that does not publish
it is found before anything is built. Costs come from the dated table in stack.prices, never from the
Pricing API: an estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from base.clients import ClientFactory
from base.errors import BuildError
from environments.model import AwsEnvironment, LocalEnvironment
from stack import ami, builder, cdn, prices
from stack.handles import InstanceHandle


@dataclass(frozen=True)
class Item:
    region: str  # "global" for Route 53
    kind: str
    what: str
    hourly: prices.Price | None = None  # None: no hourly charge, or none in the table (``note`` says which)
    note: str = ""


@dataclass(frozen=True)
class Plan:
    environment: str
    stack_name: str
    run_id: str
    items: tuple[Item, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def hourly_usd(self) -> float:
        return sum(i.hourly.usd for i in self.items if i.hourly is not None)

    def regions(self) -> list[str]:
        return list(dict.fromkeys(i.region for i in self.items))


def _records(environment: LocalEnvironment | AwsEnvironment, options: builder.BuildOptions) -> tuple[int, list[str]]:
    """How many record sets the build writes (its own record tree, for one instance per planned slot, and the
    writer's CNAME), and their names."""
    placeholders = [InstanceHandle(f"i-{n:017x}", region, az, "", "", "", environment.stack.checkout_port)
                    for region, spec in environment.regions.items() for az in spec.availability_zones
                    for n in range(environment.stack.checkout_instances_per_az)]
    changes = builder.Builder(environment, _no_clients, options).record_changes("<zone>", placeholders)
    names = builder.record_names(environment.stack.zone)
    return len(changes) + 1, [names.checkout, names.geo, names.latency, names.canary,
                              names.regional("<region>") + " per Region", names.database]


def _no_clients(service: str, region: str) -> None:
    raise AssertionError(f"planning made a {service} client ({region}): it must not")


def plan(environment: LocalEnvironment | AwsEnvironment, options: builder.BuildOptions,
         clients: ClientFactory | None = None, run_id: str = "") -> Plan:
    """What a build of ``environment`` creates. ``clients`` (read-only use) resolve each Region's AMI."""
    stack = environment.stack
    items: list[Item] = []
    problems: list[str] = []
    instances = 0
    for region, spec in environment.regions.items():
        items.append(Item(region, "VPC", f"{spec.vpc_cidr} ({spec.role})"))
        for az, zone in spec.availability_zones.items():
            items.append(Item(region, "subnet", f"{az} {zone.subnet_cidr}"))
        count = stack.checkout_instances_per_az * len(spec.availability_zones)
        instances += count
        image = f"AMI from {ami.PARAMETERS['x86_64']}"
        if clients is not None and count:
            try:
                image = ami.image_id(clients("ssm", region), clients("ec2", region), builder.CHECKOUT_INSTANCE_TYPE,
                                     region)
            except BuildError as error:
                problems.append(str(error))
        price = prices.ec2_hourly(builder.CHECKOUT_INSTANCE_TYPE, region)
        storage = prices.ebs_hourly(prices.AL2023_ROOT_VOLUME_GB * count, region)
        items.append(Item(region, "instances", f"{count} x {builder.CHECKOUT_INSTANCE_TYPE} checkout ({image}), "
                          f"{prices.AL2023_ROOT_VOLUME_GB} GB gp3 each",
                          None if price is None else prices.Price(price.usd * count + storage.usd,
                                                                  price.region_known and storage.region_known)))
        if region == stack.database_region:
            items.append(_database(region, stack.database_identifier, multi_az=True))
            items.append(Item(region, "secret", f"{options.stack_name}/{stack.database_identifier}/master",
                              note="Secrets Manager: USD 0.40 a month, not counted hourly"))
        if region == stack.replica_region:
            items.append(_database(region, f"{stack.database_identifier}-replica", multi_az=False, replica=True))
    records, names = _records(environment, options)
    items.append(Item("global", "hosted zone", stack.zone, prices.monthly_as_hourly(prices.ROUTE53_ZONE_MONTH)))
    items.append(Item("global", "records", f"{records} record sets named " + ", ".join(names),
                      note="queries are billed per million, not counted"))
    items.append(Item("global", "health checks", f"{instances} HTTP, one per checkout instance, every "
                      f"{stack.health_check_interval_s} s", prices.monthly_as_hourly(
                          prices.ROUTE53_HEALTH_CHECK_MONTH * instances)))
    if options.cdn:
        edge = cdn.spec_of(environment, options.stack_name)
        items.append(Item(edge.bucket_region, "S3 bucket", f"{cdn.bucket_name(options.stack_name, '<account>')}: "
                          f"{len(cdn.ASSETS)} assets", note="storage and requests are billed per use, not counted"))
        items.append(Item("global", "distribution", f"CloudFront: assets, and {cdn.API_PATH} -> checkout in "
                          f"{' then '.join(edge.regions)}", note="billed per request and transfer, not counted"))
    return Plan(environment.name, options.stack_name, run_id, tuple(items), tuple(problems))


def _database(region: str, identifier: str, *, multi_az: bool, replica: bool = False) -> Item:
    compute = prices.rds_hourly(builder.DB_INSTANCE_CLASS, region, multi_az)
    storage = prices.rds_storage_hourly(builder.DB_STORAGE_GB, region, multi_az)
    hourly = None if compute is None else prices.Price(compute.usd + storage.usd,
                                                      compute.region_known and storage.region_known)
    shape = "read replica" if replica else ("Multi-AZ" if multi_az else "Single-AZ")
    return Item(region, "DB instance", f"{identifier} {builder.DB_INSTANCE_CLASS} PostgreSQL {shape}, "
                f"{builder.DB_STORAGE_GB} GB gp2", hourly)


def render(planned: Plan) -> str:
    lines = [f"dry run: what building the reference stack {planned.stack_name!r} of environment {planned.environment} "
             "would create; nothing was created",
             f"everything carries gameday:stack={planned.stack_name} and gameday:run={planned.run_id} "
             f"(`gameday stack teardown --run-id {planned.run_id}` removes it)"]
    guessed = set()
    for region in planned.regions():
        items = [i for i in planned.items if i.region == region]
        subtotal = sum(i.hourly.usd for i in items if i.hourly is not None)
        lines.append(f"{region}  (USD {subtotal:.4f}/hour)")
        for item in items:
            cost = f"USD {item.hourly.usd:.4f}/hour" if item.hourly is not None else ""
            if item.hourly is not None and not item.hourly.region_known:
                cost += " *"
                guessed.add(region)
            lines.append(f"  {item.kind:<14} {item.what}" + (f"   {cost}" if cost else "")
                         + (f"   ({item.note})" if item.note else ""))
    lines.append(f"estimated cost: USD {planned.hourly_usd:.4f} per hour (about USD "
                 f"{planned.hourly_usd * prices.HOURS_PER_MONTH:.0f} per month): an estimate from on-demand list "
                 f"prices recorded {prices.RECORDED} (stack/prices.py), without data transfer, requests, taxes or "
                 "free tier; check the AWS pricing pages")
    if guessed:
        lines.append(f"* some prices for {', '.join(sorted(guessed))} are not in the table: the us-east-1 price stands in")
    lines += [f"problem: {problem}" for problem in planned.problems]
    return "\n".join(lines)
