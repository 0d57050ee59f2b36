"""A Region cut off by NACLs (network.isolate_region) still replicates its global tables, as on AWS.

AWS replicates between its own Regional endpoints, outside any VPC: a NACL on the VPC's subnets cuts
the instances there, not DynamoDB. The fabric enforces the NACLs here (a connection into the Region
stalls), and the replicator goes on carrying writes both ways.
"""
from __future__ import annotations

import logging
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from base.deadline import until
from environments import loader
from environments.model import LocalEnvironment, LocalSettings
from faults import guard as guard_
from faults.guard import Guard
from faults.journal import Journal
from faults.network import IsolateRegion
from stack.local.controlplane.app import ControlPlane
from stack.local.dynamodb.part import DynamoDbPart
from stack.local.endpoint import AwsEndpoint
from stack.local.fabric.connect import create_connection
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.services import Network
from tests.conftest import lifecycle_instance
from tests.faults.conftest import STACK_TAG, Recorder, policy
from tests.stack.local.fabric.echo import EchoServer
from tests.stack.local.fabric.test_fabric import exchange

ISOLATED = "us-west-2"
DEADLINE_S = 5.0


class World:
    def __init__(self, endpoint_url: str, fabric: Any, dynamodb: DynamoDbPart, environment: Any) -> None:
        self.fabric, self.dynamodb, self.environment = fabric, dynamodb, environment
        session = boto3.session.Session(**LOCAL_CREDENTIALS)
        self.client = {r: session.client("dynamodb", region_name=r, endpoint_url=endpoint_url) for r in environment.regions}
        self.ec2 = session.client("ec2", region_name=ISOLATED, endpoint_url=endpoint_url)
        self.endpoint_url = endpoint_url

    def host(self, region: str) -> str:
        zone = next(iter(self.environment.regions[region].availability_zones.values()))
        return str(zone.network[10])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from stack.local.fabric.part import FabricPart

    number = lifecycle_instance(honour_named=True)
    host = f"127.0.{number}.1"
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    settings = base.dynamodb.model_copy(update={"replica_creation_s": 1.0})  # not what is tested: 0.1 s
    instance = Instance(number, base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port), "time_scale": 0.1,
                                                        "dynamodb": settings}))
    environment = instance.resolved()
    plane = ControlPlane(logging.getLogger("test.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, host, port)
    endpoint.start()
    state = Path(tempfile.mkdtemp(prefix="ddb-iso-"))
    context = PartContext(instance, environment, state, logging.getLogger("test.fabric"), plane.services)
    fabric, dynamodb = FabricPart(), DynamoDbPart()
    try:
        # No skip: the fabric runs without root or nft (firewall.py's kernel path is optional), so a fabric
        # that does not start is a broken fabric.
        fabric.start(context)
        plane.services.provide(Network, fabric, by="part fabric")
        plane.attach(fabric)
        dynamodb.start(context)
        plane.attach(dynamodb)
        yield World(f"http://{host}:{port}", fabric, dynamodb, environment)
    finally:
        plane.detach_all()
        dynamodb.stop()
        fabric.stop()
        endpoint.stop()


def cut(server: tuple[str, int], source: str) -> bool:
    """Whether nothing comes back through the fabric from ``server`` (a NACL deny stalls, it does not refuse)."""
    try:
        with create_connection(server, source_address=source, timeout_s=1) as sock:
            sock.sendall(b"during")
            sock.settimeout(1)
            return sock.recv(6) == b""
    except OSError:  # socket.timeout included: silence
        return True


def test_isolating_a_region_by_nacl_does_not_stop_replication(world: World, tmp_path: Path) -> None:
    region = world.environment.regions[ISOLATED]
    vpc = world.ec2.create_vpc(CidrBlock=region.vpc_cidr, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}]}])["Vpc"]["VpcId"]
    subnets = [world.ec2.create_subnet(VpcId=vpc, CidrBlock=zone.subnet_cidr, AvailabilityZone=az, TagSpecifications=[
        {"ResourceType": "subnet", "Tags": [{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}]}])["Subnet"]["SubnetId"]
        for az, zone in region.availability_zones.items()]
    world.fabric.wait_synced()
    table = f"iso-{uuid.uuid4().hex[:8]}"
    east, west = world.client["us-east-1"], world.client[ISOLATED]
    east.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": ISOLATED}}])
    until(lambda: all(r["ReplicaStatus"] == "ACTIVE" for r in east.describe_table(TableName=table)["Table"]["Replicas"]),
          30, "the replica ACTIVE", 0.05)
    with tempfile.TemporaryDirectory(prefix="echo-", dir="/tmp") as short:
        echo = EchoServer(Path(short) / "echo.sock")
        server = (world.host(ISOLATED), world.fabric.expose(world.host(ISOLATED), 0, echo.backend))
        try:
            with create_connection(server, source_address=world.host("us-east-1"), timeout_s=5) as sock:
                assert exchange(sock, b"before") == b"before"
            with guard_.installed(Guard(policy())):
                with IsolateRegion(Recorder(world.endpoint_url), Journal("test-target", tmp_path / "journal"),
                                   region=ISOLATED, subnet_ids=subnets):
                    world.fabric.wait_synced()
                    assert cut(server, world.host("us-east-1")), "the NACLs let traffic into the isolated Region"
                    east.put_item(TableName=table, Item={"id": {"S": "to-isolated"}})
                    west.put_item(TableName=table, Item={"id": {"S": "from-isolated"}})
                    until(lambda: "Item" in west.get_item(TableName=table, Key={"id": {"S": "to-isolated"}})
                          and "Item" in east.get_item(TableName=table, Key={"id": {"S": "from-isolated"}}),
                          DEADLINE_S, "replication both ways while the Region is isolated", 0.02)
        finally:
            world.fabric.unexpose(*server)
            echo.close()
