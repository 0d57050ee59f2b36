"""Each Region's default VPC is a loopback /16 of its own, and an address the stack cannot host is refused."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from botocore.exceptions import ClientError

from environments import loader
from stack.local.controlplane import defaultvpc
from stack.local.instance import MAX_INSTANCE, Instance

HOSTLESS = "eu-north-1"  # a Region without a loopback default VPC


def _networks(instance: Instance) -> list[ipaddress.IPv4Network]:
    env = instance.resolved()
    networks = [r.network for r in env.regions.values()] + [vp.network for vp in env.vantage_points.values()]
    networks += [ipaddress.IPv4Network(instance.checker_subnet(i)) for i in range(8)]
    networks.append(ipaddress.IPv4Network(f"{instance.control_host}/32"))
    return networks


def test_default_vpcs_collide_with_nothing_of_any_instance() -> None:
    env = loader.load("local")
    instances = [Instance(k, env) for k in range(MAX_INSTANCE + 1)]
    used = [n for instance in instances for n in _networks(instance)]
    defaults = [ipaddress.IPv4Network(defaultvpc.layout_for(i).cidr(r)) for i in instances for r in defaultvpc.REGIONS]
    assert len(set(defaults)) == len(defaults)
    for network in defaults:
        assert network.prefixlen == 16 and network.subnet_of(defaultvpc.LOOPBACK)
        assert not [u for u in used if u.overlaps(network)], network
    assert defaultvpc.layout_for(Instance(3, env)).cidr("us-east-1") == "127.130.0.0/16"


def test_moto_creates_the_default_vpc_from_the_layout() -> None:
    from moto.ec2.models import EC2Backend

    defaultvpc.install(defaultvpc.layout_for(Instance(3, loader.load("local"))))
    try:
        backend = EC2Backend("us-west-2", "000000000003")
        vpc = backend.get_default_vpc()
        assert vpc.cidr_block == "127.131.0.0/16"
        subnets = [s for s in backend.describe_subnets() if s.vpc_id == vpc.id]
        assert subnets and all(ipaddress.IPv4Network(s.cidr_block).subnet_of(ipaddress.IPv4Network("127.131.0.0/16")) for s in subnets)
        assert {s.cidr.prefixlen for s in subnets} == {20}
    finally:
        defaultvpc.install(defaultvpc.layout_for(None))


def test_endpoint_default_vpc_is_loopback(edge_client: Any) -> None:
    vpcs = edge_client("ec2", "eu-central-1").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert ipaddress.IPv4Network(vpcs[0]["CidrBlock"]).subnet_of(defaultvpc.LOOPBACK)


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]


def test_vpc_outside_loopback_is_refused(edge_client: Any) -> None:
    error = _error(edge_client("ec2").create_vpc, CidrBlock="10.0.0.0/16")
    assert error["Code"] == "InvalidVpc.Range" and "127.0.0.0/8" in error["Message"] and "10.0.0.0/16" in error["Message"]


def _default_vpc(ec2: Any) -> tuple[str, list[str]]:
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    return vpc, [s["SubnetId"] for s in subnets]


def test_subnet_outside_loopback_is_refused(edge_client: Any) -> None:
    ec2 = edge_client("ec2", HOSTLESS)
    vpc, _ = _default_vpc(ec2)
    error = _error(ec2.create_subnet, VpcId=vpc, CidrBlock="172.31.200.0/24")
    assert error["Code"] == "InvalidSubnet.Range" and "127.0.0.0/8" in error["Message"]


def test_db_subnet_group_in_the_default_vpc(edge_client: Any) -> None:
    _, subnets = _default_vpc(edge_client("ec2", "us-east-1"))
    edge_client("rds", "us-east-1").create_db_subnet_group(DBSubnetGroupName="default-vpc", DBSubnetGroupDescription="d",
                                                           SubnetIds=subnets[:2])
    _, hostless = _default_vpc(edge_client("ec2", HOSTLESS))
    error = _error(edge_client("rds", HOSTLESS).create_db_subnet_group, DBSubnetGroupName="nowhere",
                   DBSubnetGroupDescription="d", SubnetIds=hostless[:2])
    assert error["Code"] == "InvalidSubnet" and "127.0.0.0/8" in error["Message"]


def test_run_instances_in_a_hostless_default_vpc_is_refused(edge_client: Any) -> None:
    error = _error(edge_client("ec2", HOSTLESS).run_instances, ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    assert error["Code"] == "InvalidParameterValue" and HOSTLESS in error["Message"]
