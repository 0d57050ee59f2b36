"""FabricPart behind the real control plane: EC2 API calls (the FIS NACL method) cut and restore real flows."""
from __future__ import annotations

import logging
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import requests

from environments.loader import load
from environments.model import LocalSettings
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import Endpoint
from stack.local.fabric.connect import create_connection
from stack.local.fabric.part import FabricPart
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext

from tests.conftest import worker_index

from .echo import EchoServer
from .conftest import wait_for
from .test_fabric import assert_silent, exchange

# Instances 3 and 4: not the plugin's session stacks (1, 2) nor the supervisor tests' (7, 8).
NUMBER = 3 + worker_index()
REGION = "us-east-1"


class Stack:
    def __init__(self, part: FabricPart, context: PartContext, plane: ControlPlane) -> None:
        self.part, self.context, self.plane = part, context, plane
        self.ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=context.instance.aws_endpoint,
                                **LOCAL_CREDENTIALS)
        env = context.environment
        vpc = self.ec2.create_vpc(CidrBlock=env.regions[REGION].vpc_cidr)["Vpc"]["VpcId"]
        self.vpc_id = vpc
        self.subnets = {az: self.ec2.create_subnet(VpcId=vpc, CidrBlock=zone.subnet_cidr, AvailabilityZone=az)["Subnet"]
                        for az, zone in env.regions[REGION].availability_zones.items()}
        part.wait_synced()

    def host(self, az: str, number: int = 10) -> str:
        return str(self.context.environment.regions[REGION].availability_zones[az].network[number])

    def association(self, az: str) -> tuple[str, str]:
        """(association id, NACL id) of the AZ's subnet."""
        subnet_id = self.subnets[az]["SubnetId"]
        acl = self.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"][0]
        association = next(a for a in acl["Associations"] if a["SubnetId"] == subnet_id)
        return association["NetworkAclAssociationId"], acl["NetworkAclId"]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One control plane and fabric part for the module (moto's start-up costs seconds); tests restore what they change."""
    state_dir = Path(tempfile.mkdtemp(prefix="fab-part-"))
    plane = ControlPlane(logging.getLogger("test.controlplane"))
    endpoint = Endpoint(plane, f"127.0.{NUMBER}.1", 0)
    endpoint.start()
    # moto's state is per process: start from nothing, whatever ran before in this worker.
    requests.post(f"{endpoint.url}/moto-api/reset", timeout=10).raise_for_status()
    environment = load("local").model_copy(update={"local": LocalSettings(aws_endpoint_port=endpoint.port)})
    instance = Instance(NUMBER, environment)  # type: ignore[arg-type]
    context = PartContext(instance, instance.resolved(), state_dir, logging.getLogger("test.fabric"))
    part = FabricPart()
    try:
        part.start(context)
        plane.attach(part)
        yield Stack(part, context, plane)
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def deny_all_acl(stack: Stack) -> str:
    return stack.ec2.create_network_acl(VpcId=stack.vpc_id)["NetworkAcl"]["NetworkAclId"]


def test_replacing_the_association_cuts_and_restoring_resumes(stack: Stack, echo: EchoServer) -> None:
    address = stack.host("us-east-1a")
    server = (address, stack.part.expose(address, 0, echo.backend))
    association, original = stack.association("us-east-1a")
    try:
        with create_connection(server, source_address=stack.host("us-east-1b"), timeout_s=5) as sock:
            assert exchange(sock, b"before") == b"before"
            cut_acl = deny_all_acl(stack)
            # The FIS method: swap the subnet onto a NACL with no rules (everything hits the implicit deny).
            association = stack.ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=cut_acl)[
                "NewAssociationId"]
            stack.part.wait_synced()
            sock.sendall(b"during")
            assert_silent(sock)
            links = stack.part.status()["links"]
            cut = next(l for l in links if l["destination"] == stack.subnets["us-east-1a"]["SubnetId"])
            assert (cut["last_deny"]["acl_id"], cut["last_deny"]["rule"]) == (cut_acl, "*")
            association = stack.ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=original)[
                "NewAssociationId"]
            stack.part.wait_synced()
            sock.settimeout(5)
            assert sock.recv(6) == b"during"
    finally:
        if stack.association("us-east-1a")[1] != original:
            stack.ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=original)
        stack.part.unexpose(*server)


def test_a_deny_entry_on_the_port_cuts_only_that_port(stack: Stack, echo: EchoServer) -> None:
    address = stack.host("us-east-1a")
    cut_port = stack.part.expose(address, 0, echo.backend)
    open_port = stack.part.expose(address, 0, echo.backend)
    _, acl = stack.association("us-east-1a")
    source = stack.host("us-east-1b")
    try:
        with create_connection((address, cut_port), source_address=source, timeout_s=5) as sock:
            assert exchange(sock, b"before") == b"before"
            stack.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Protocol="6", RuleAction="deny",
                                               Egress=False, CidrBlock="0.0.0.0/0",
                                               PortRange={"From": cut_port, "To": cut_port})
            stack.part.wait_synced()
            with create_connection((address, open_port), source_address=source, timeout_s=5) as other:
                assert exchange(other, b"open") == b"open"
            sock.sendall(b"cut")
            assert_silent(sock)
            stack.ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Egress=False)
            stack.part.wait_synced()
            sock.settimeout(5)
            assert sock.recv(3) == b"cut"
    finally:
        entries = stack.ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
        if any(e["RuleNumber"] == 10 for e in entries):
            stack.ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Egress=False)
        stack.part.unexpose(address, cut_port)
        stack.part.unexpose(address, open_port)


def test_status_start_and_stop(stack: Stack, short_dir: Path) -> None:
    # A second part on the same endpoint: starting reads EC2 on its own, stopping leaves nothing.
    # (Without the kernel path: its nftables table is named after the instance, which the first part holds.)
    part = FabricPart(kernel_drop=False)
    part.start(PartContext(stack.context.instance, stack.context.environment, short_dir, stack.context.log))
    try:
        part.wait_synced()
        status: dict[str, Any] = dict(part.status())
        assert status["running"] and status["last_sync_error"] is None
        assert set(status["subnets"]) >= {s["SubnetId"] for s in stack.subnets.values()}
        process = part.process
        assert process is not None
    finally:
        part.stop()
    part.stop()
    assert not Path(f"/proc/{status['pid']}").exists()
    assert not process.control_path.exists()
    assert part.status() == {"running": False}


def test_unknown_subnet_address_is_rejected_by_nobody_but_counted_as_outside(stack: Stack, echo: EchoServer) -> None:
    # A listener on an address in no subnet still forwards; its flows are labelled "outside".
    address = "127.0.%d.99" % NUMBER
    port = stack.part.expose(address, 0, echo.backend)
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            assert exchange(sock, b"x") == b"x"
        assert any(l["destination"] == "outside" for l in stack.part.status()["links"])
    finally:
        stack.part.unexpose(address, port)


def test_sync_retries_until_the_endpoint_answers(stack: Stack, short_dir: Path) -> None:
    host = stack.context.instance.control_host
    with socket.socket() as probe:  # a port nothing listens on yet
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    environment = load("local").model_copy(update={"local": LocalSettings(aws_endpoint_port=port)})
    instance = Instance(NUMBER, environment)  # type: ignore[arg-type]
    part = FabricPart(kernel_drop=False)
    late: Endpoint | None = None
    try:
        part.start(PartContext(instance, instance.resolved(), short_dir, stack.context.log))
        wait_for(lambda: part.last_error is not None, "the first sync to fail while nothing answers")
        late = Endpoint(stack.plane, host, port)
        late.start()
        expected = {s["SubnetId"] for s in stack.subnets.values()}
        wait_for(lambda: part.last_error is None and expected <= set(part.status().get("subnets", {})),
                 "the part to read EC2 once the endpoint answers", timeout_s=20)
    finally:
        part.stop()
        if late is not None:
            late.stop()
