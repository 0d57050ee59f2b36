"""The local stack's parts by name: which there are, in start order, and what each makes real.

Apart from the supervisor so that the command line can offer the names (``stack up --parts``) without
importing the supervisor and its AWS clients on every command.
"""
from __future__ import annotations

from base.errors import SettingsError

# The parts, each "module:Class". Start order follows from their services (stop runs in reverse).
PARTS: tuple[str, ...] = (
    "stack.local.fabric.part:FabricPart",
    "stack.local.route53.part:Route53Part",
    "stack.local.rds.part:RdsPart",
    "stack.local.ec2.part:Ec2Part",
    "stack.local.dynamodb.part:DynamoDbPart",
    "stack.local.cloudwatch.part:CloudWatchPart",
    "stack.local.xray.part:XRayPart",
    "stack.local.fis.part:FisPart",
    "stack.local.cloudfront.part:CloudFrontPart",
    "stack.local.accelerator.part:AcceleratorPart",
    "stack.local.warehouse.part:WarehousePart",
    "stack.local.stores.part:StoresPart",
)
# What each part makes real, named when a stack runs without it: its faults would change the API only.
ENFORCES = {
    "fabric": "EC2 subnets and network ACLs (AZ isolation, NACL faults)",
    "route53": "Route 53 DNS answers and health checks",
    "rds": "RDS DB instances (PostgreSQL servers, reboots, failovers, replicas)",
    "ec2": "EC2 instances (checkout processes)",
    "dynamodb": "DynamoDB global-table replication",
    "cloudwatch": "CloudWatch alarm evaluation (state changes, history, SNS actions)",
    "xray": "X-Ray traces (OTLP/HTTP and PutTraceSegments in; trace summaries, traces, service graph out)",
    "fis": "AWS FIS experiments (StartExperiment runs the template's actions)",
    "cloudfront": "CloudFront edge locations (caching proxies, origin failover, invalidations)",
    "accelerator": "Global Accelerator (static addresses routing to the nearest healthy Region, endpoint health checks)",
    "warehouse": "the warehouse site's service and its inventory API in the Region (hybrid tier)",
    "stores": "the retail stores' point of sale on their Outposts and the cloud's sales ledger",
}


def part_name(spec: str) -> str:
    """A PARTS entry's name: "stack.local.rds.part:RdsPart" -> "rds"."""
    return spec.rsplit(".", 2)[-2]


def select_parts(names: str = "all") -> tuple[str, ...]:
    """The PARTS entries named by ``names`` ("all", "none" or a comma list), in start order.

    Raises SettingsError naming an unknown part.
    """
    if names == "all":
        return PARTS
    if names == "none":
        return ()
    by_name = {part_name(spec): spec for spec in PARTS}
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:  # `--parts ""` would otherwise start no part without saying so
        raise SettingsError(f"--parts: {names!r} names no part; allowed: all, none, or a comma list of {', '.join(by_name)}")
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise SettingsError(f"--parts: {', '.join(map(repr, unknown))} {'is not a part' if len(unknown) == 1 else 'are not parts'}; "
                            f"allowed: all, none, or a comma list of {', '.join(by_name)}")
    return tuple(spec for name, spec in by_name.items() if name in wanted)
