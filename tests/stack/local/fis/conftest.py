"""A control plane on a free port with the FIS part attached (no data planes: the effects are read
back through the API here; the fabric, ec2 and rds parts make them real, tested in their own suites)."""
from __future__ import annotations

import itertools
import logging
import socket
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import boto3
import pytest
from botocore.config import Config

from base.deadline import until
from environments import loader
from environments.model import LocalEnvironment, LocalSettings
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.fis.part import FisPart
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.services import InstanceProcesses, Toxics

TIME_SCALE = 0.01  # PT1M runs 0.6 s
_SECOND_OCTETS = itertools.count(230)  # each test's VPC its own /16 (the local stack hosts 127.0.0.0/8 only)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordedToxics:
    """The Toxics service, recording what it is told (the fabric's own tests cover the effects)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []

    def set_toxics(self, address: str, toxics: Sequence[Mapping[str, Any]]) -> None:
        self.calls.append((address, [dict(t) for t in toxics]))


class Processes:
    """The InstanceProcesses service over processes a test names."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}

    def pid_of(self, instance_id: str) -> int | None:
        return self.pids.get(instance_id)


class Stack:
    def __init__(self, part: FisPart, endpoint_url: str, log_dir: Path, toxics: RecordedToxics,
                 processes: Processes) -> None:
        self.part, self.endpoint_url, self.log_dir, self.toxics = part, endpoint_url, log_dir, toxics
        self.processes = processes
        self._session = boto3.session.Session(**LOCAL_CREDENTIALS)
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str = "us-east-1") -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, region_name=region, endpoint_url=self.endpoint_url,
                                                      config=Config(retries={"max_attempts": 1}))
        return self._clients[key]

    def finished(self, experiment_id: str, timeout_s: float = 20) -> dict[str, Any]:
        fis = self.client("fis")
        found: dict[str, Any] = until(lambda: fis.get_experiment(id=experiment_id)["experiment"], timeout_s,
                                      f"experiment {experiment_id} to end", 0.02,
                                      accept=lambda e: e["state"]["status"] in ("completed", "stopped", "failed"))
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    port = free_port()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port), "time_scale": TIME_SCALE})
    instance = Instance(0, environment)
    plane = ControlPlane(logging.getLogger("test.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    part = FisPart()
    toxics = RecordedToxics()
    plane.services.provide(Toxics, toxics, by="test")
    processes = Processes()
    plane.services.provide(InstanceProcesses, processes, by="test")
    log_dir = tmp_path_factory.mktemp("fis-logs")
    context = PartContext(instance, environment, instance.state_dir, logging.getLogger("test.fis"), plane.services,
                          log_dir=log_dir, part="fis")
    try:
        part.start(context)
        plane.attach(part)
        yield Stack(part, f"http://127.0.0.1:{port}", log_dir, toxics, processes)
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()


@pytest.fixture
def network(stack: Stack) -> dict[str, Any]:
    """A VPC with one subnet per AZ and one tagged instance in each, under a fresh tag value."""
    ec2 = stack.client("ec2")
    run = uuid.uuid4().hex[:8]
    tags = [{"Key": "fis-test", "Value": run}]
    second = next(_SECOND_OCTETS)
    vpc = ec2.create_vpc(CidrBlock=f"127.{second}.0.0/16")["Vpc"]["VpcId"]
    subnets, instances = {}, {}
    for index, az in enumerate(("us-east-1a", "us-east-1b")):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.{second}.{index + 1}.0/24", AvailabilityZone=az,
                                   TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}])["Subnet"]
        subnets[az] = subnet
        instances[az] = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                                          TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]
    return {"run": run, "vpc": vpc, "cidr": f"127.{second}.1.0/24", "subnets": subnets, "instances": instances}


def acl_of(stack: Stack, subnet_id: str) -> dict[str, Any]:
    acls = stack.client("ec2").describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
    found: dict[str, Any] = acls[0]
    return found


Factory = Callable[..., str]
