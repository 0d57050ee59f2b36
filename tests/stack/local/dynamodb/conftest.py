"""A control plane on a free port with the DynamoDB part attached, and global tables made through boto3."""
from __future__ import annotations

import logging
import socket
import uuid
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from base.deadline import until
from environments import loader
from environments.model import DynamoDbSettings, LocalEnvironment, LocalSettings
from stack.local.controlplane.app import ControlPlane
from stack.local.dynamodb.part import DynamoDbPart
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.services import StrongConsistency

# time_scale 0.1: the 2 s processing delay is 0.2 s, plus the unscaled RTT (78 ms us-east-1 <-> us-west-2);
# a new replica is CREATING for 0.3 s; the TTL sweep and the metric flush run every 0.1 s.
SETTINGS = DynamoDbSettings(replication_processing_s=2.0, replica_creation_s=3.0, ttl_sweep_s=1.0, metric_period_s=1.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    def __init__(self, plane: ControlPlane, part: DynamoDbPart, environment: LocalEnvironment, endpoint_url: str) -> None:
        self.plane, self.part, self.environment, self.endpoint_url = plane, part, environment, endpoint_url
        self._session = boto3.session.Session(**LOCAL_CREDENTIALS)
        self._clients: dict[str, Any] = {}

    def client(self, region: str = "us-east-1") -> Any:
        if region not in self._clients:
            self._clients[region] = self._session.client("dynamodb", region_name=region, endpoint_url=self.endpoint_url,
                                                         config=Config(retries={"max_attempts": 1}))
        return self._clients[region]

    def settled(self) -> None:
        """Wait until the replicator has nothing left to read or deliver."""
        until(lambda: self.part.status()["pending"] == 0, 10, "the replicator to settle", 0.01)

    def cloudwatch(self, region: str) -> Any:
        return self._session.client("cloudwatch", region_name=region, endpoint_url=self.endpoint_url)

    def item(self, region: str, table: str, key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client(region).get_item(TableName=table, Key={"id": {"S": key}},
                                                                   ConsistentRead=True).get("Item")
        return found

    def replicas(self, region: str, table: str) -> dict[str, str]:
        described = self.client(region).describe_table(TableName=table)["Table"]
        return {r["RegionName"]: r["ReplicaStatus"] for r in described.get("Replicas") or ()}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    port = free_port()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port), "time_scale": 0.1,
                                          "dynamodb": SETTINGS})
    instance = Instance(0, environment)
    plane = ControlPlane(logging.getLogger("test.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    part = DynamoDbPart()
    context = PartContext(instance, environment, instance.state_dir, logging.getLogger("test.dynamodb"),
                          plane.services, part="dynamodb")
    try:
        part.start(context)
        plane.attach(part)
        plane.services.provide(StrongConsistency, part, by="dynamodb")  # as the supervisor registers it
        yield Stack(plane, part, environment, f"http://127.0.0.1:{port}")
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()


def new_table(stack: Stack, region: str = "us-east-1") -> str:
    name = f"catalog-{uuid.uuid4().hex[:8]}"
    stack.client(region).create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                      BillingMode="PAY_PER_REQUEST")
    return name


def wait_replicas(stack: Stack, seen_from: str, table: str, regions: set[str]) -> None:
    """Wait until ``seen_from``'s DescribeTable shows the replicas in ``regions`` ACTIVE."""
    until(lambda: all(stack.replicas(seen_from, table).get(r) == "ACTIVE" for r in regions), 10,
          f"the replicas of {table} in {sorted(regions)} ACTIVE in {seen_from}", 0.02)


@pytest.fixture
def global_table(stack: Stack) -> Callable[..., str]:
    """A new table in us-east-1 with ACTIVE replicas in the other Regions given."""

    def make(*others: str) -> str:
        name = new_table(stack)
        for region in others:
            stack.client().update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
            wait_replicas(stack, "us-east-1", name, {region})
        return name

    return make
