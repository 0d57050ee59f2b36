"""Each Region's default VPC on loopback, and the rule that the stack hosts only 127.0.0.0/8.

AWS gives every Region a default VPC, 172.31.0.0/16 with a /20 default subnet per AZ, and so does
moto. The local stack can only host addresses in 127.0.0.0/8 (the fabric exposes every listener on a
loopback address), so a client using the default VPC would get a 200 from CreateDBInstance and an
instance that ends ``failed``. Instead, in the Regions listed in ``REGIONS`` the default VPC of
instance k is ``127.(100 + 10k + i).0.0/16`` (i: the Region's index), a range no environment VPC,
vantage point or health checker of any instance uses. Its default subnets are /20s, as on AWS.

Any other address is refused at the API call that would bring it in, with the rule in the message:
a VPC or subnet CIDR outside 127.0.0.0/8, and, in the Regions without a loopback default VPC, the
default VPC and subnets themselves (DB subnet groups, RunInstances, CreateDefaultVpc).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from stack.local.controlplane import backends
from stack.local.awserror import AwsError
from stack.local.part import ApiRequest

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
AWS_DEFAULT_VPC = "172.31.0.0/16"
FIRST_OCTET = 100  # instance k uses 127.(100 + 10k + i).0.0/16: 100..199 for instances 0..9
# The Regions with a loopback default VPC, in index order: the reference environment's Regions and
# the Route 53 health-checker Regions. Appending keeps every existing range where it is (at most 10).
REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1", "us-east-2", "us-west-1",
           "eu-west-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1")
RULE = ("the local stack hosts only addresses in 127.0.0.0/8; each listed Region's default VPC is "
        "127.(100+10k+i).0.0/16 on instance k (README, 'Addresses and the default VPC')")


@dataclass(frozen=True)
class Layout:
    """Default VPC CIDR by Region for one stack instance."""

    instance: int
    cidrs: Mapping[str, str] = field(default_factory=dict)

    def cidr(self, region: str) -> str:
        return self.cidrs.get(region, AWS_DEFAULT_VPC)


def default_vpc_cidr(instance: int, region: str) -> str | None:
    if region not in REGIONS:
        return None
    return f"127.{FIRST_OCTET + 10 * instance + REGIONS.index(region)}.0.0/16"


def layout_for(instance: Any = None) -> Layout:
    """The layout of ``instance`` (stack.local.instance.Instance), or of GAMEDAY_INSTANCE when None.

    Raises SettingsError when a default VPC would overlap a network the instance's environment uses.
    """
    from base.errors import SettingsError
    from stack.local.instance import instance_from_environ

    number = instance.number if instance is not None else instance_from_environ()
    cidrs = {region: str(default_vpc_cidr(number, region)) for region in REGIONS}
    if instance is not None:
        env = instance.resolved()
        used = [(f"regions.{name}.vpc_cidr", region.network) for name, region in env.regions.items()]
        used += [(f"vantage_points.{name}.subnet", vp.network) for name, vp in env.vantage_points.items()]
        for region, cidr in cidrs.items():
            for where, network in used:
                if network.overlaps(ipaddress.IPv4Network(cidr)):
                    raise SettingsError(f"{where} {network} overlaps the default VPC {cidr} of {region} on instance "
                                        f"{number}; use addresses outside 127.100.0.0/16-127.199.0.0/16")
    return Layout(number, cidrs)


_layout = Layout(0)


def install(layout: Layout) -> None:
    """Make moto create each Region's default VPC from ``layout`` (moto's state is per process)."""
    global _layout
    _layout = layout
    from moto.ec2.exceptions import DefaultVpcAlreadyExists
    from moto.ec2.models.vpcs import VPCBackend

    if getattr(VPCBackend.create_default_vpc, "_gameday_fixed", False):
        return

    def create_default_vpc(self: Any) -> Any:
        if self.describe_vpcs(filters={"is-default": ["true"]}):
            raise DefaultVpcAlreadyExists
        vpc = self.create_vpc(cidr_block=_layout.cidr(self.region_name), is_default=True)
        for zone in self.describe_availability_zones():
            self.create_default_subnet(zone.name)
        return vpc

    create_default_vpc._gameday_fixed = True  # type: ignore[attr-defined]
    VPCBackend.create_default_vpc = create_default_vpc  # type: ignore[method-assign]


def _on_loopback(cidr: str) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
        return isinstance(network, ipaddress.IPv4Network) and network.subnet_of(LOOPBACK)
    except (ValueError, TypeError):
        return True  # not a CIDR at all: moto's own check answers that with AWS's error


def _cidr_rule(code: str, what: str) -> Callable[[ApiRequest, Any], None]:
    def check(request: ApiRequest, plane: Any) -> None:
        cidr = request.params.get("CidrBlock")
        if cidr is not None and not _on_loopback(str(cidr)):
            raise AwsError(code, f"The {what} CIDR {cidr!r} cannot be hosted: {RULE}")
    return check


def _default_vpc_rule(request: ApiRequest, plane: Any) -> None:
    if _layout.cidr(request.region) == AWS_DEFAULT_VPC:
        raise AwsError("InvalidParameterValue", f"{request.region} has no loopback default VPC, so its default VPC "
                                                f"({AWS_DEFAULT_VPC}) cannot be hosted: {RULE}; regions with one: {', '.join(REGIONS)}")


def _subnet_cidrs(region: str, subnet_ids: list[str]) -> dict[str, str]:
    subnets = {s.id: s.cidr_block for s in backends.ec2(region).describe_subnets()}
    return {subnet_id: subnets[subnet_id] for subnet_id in subnet_ids if subnet_id in subnets}


def run_instances(request: ApiRequest, plane: Any) -> None:
    subnet_id = request.params.get("SubnetId") or request.params.get("NetworkInterface.1.SubnetId")
    if subnet_id:
        for sid, cidr in _subnet_cidrs(request.region, [str(subnet_id)]).items():
            if not _on_loopback(cidr):
                raise AwsError("InvalidParameterValue", f"Subnet {sid} ({cidr}) cannot be hosted: {RULE}")
    else:
        _default_vpc_rule(request, plane)


def db_subnet_group(request: ApiRequest, plane: Any) -> None:
    ids = [str(v) for k, v in request.params.items() if k.startswith("SubnetIds.")]
    for sid, cidr in _subnet_cidrs(request.region, ids).items():
        if not _on_loopback(cidr):
            raise AwsError("InvalidSubnet", f"Subnet {sid} ({cidr}) cannot hold a DB instance here: {RULE}")


VALIDATE_EC2: dict[str, Callable[[ApiRequest, Any], None]] = {
    "CreateVpc": _cidr_rule("InvalidVpc.Range", "VPC"),
    "AssociateVpcCidrBlock": _cidr_rule("InvalidVpc.Range", "VPC"),
    "CreateSubnet": _cidr_rule("InvalidSubnet.Range", "subnet"),
    "CreateDefaultVpc": _default_vpc_rule,
    "CreateDefaultSubnet": _default_vpc_rule,
    "RunInstances": run_instances,
}
VALIDATE_RDS: dict[str, Callable[[ApiRequest, Any], None]] = {
    "CreateDBSubnetGroup": db_subnet_group,
    "ModifyDBSubnetGroup": db_subnet_group,
}
