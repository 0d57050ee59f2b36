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
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from environments.loader import load
from environments.model import LocalSettings
from faults import network
from base.errors import StackDegraded
from faults.guard import Guard, Policy
from faults.journal import Journal
from stack.local import supervisor
from stack.local.controlplane import app as controlplane_app, backends
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
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
    def __init__(self, part: FabricPart, context: PartContext, plane: ControlPlane, url: str) -> None:
        self.part, self.context, self.plane, self.url = part, context, plane, url
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
    part = FabricPart()
    # The supervisor's status route, so the health a session fixture reads is this part's.
    endpoint = AwsEndpoint(supervisor.with_status_route(plane, lambda: {"parts": supervisor.part_status([part])}),
                        f"127.0.{NUMBER}.1", 0)
    endpoint.start()
    # moto's state is per process: start from nothing, whatever ran before in this worker.
    requests.post(f"{endpoint.url}/moto-api/reset", timeout=10).raise_for_status()
    environment = load("local").model_copy(update={"local": LocalSettings(aws_endpoint_port=endpoint.port)})
    instance = Instance(NUMBER, environment)  # type: ignore[arg-type]
    context = PartContext(instance, instance.resolved(), state_dir, logging.getLogger("test.fabric"))
    try:
        part.start(context)
        plane.attach(part)
        yield Stack(part, context, plane, endpoint.url)
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
            cut = next(link for link in links if link["destination"] == stack.subnets["us-east-1a"]["SubnetId"])
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
        assert status["running"] and status["last_sync_error"] is None and part.health().healthy
        assert set(status["subnets"]) >= {s["SubnetId"] for s in stack.subnets.values()}
        process = part.process
        assert process is not None
    finally:
        part.stop()
    part.stop()
    assert not Path(f"/proc/{status['pid']}").exists()
    assert not process.control_path.exists()
    assert part.status() == {"running": False}
    assert part.health().reasons == ("the fabric process is not running: no NACL is enforced",)


def test_unknown_subnet_address_is_rejected_by_nobody_but_counted_as_outside(stack: Stack, echo: EchoServer) -> None:
    # A listener on an address in no subnet still forwards; its flows are labelled "outside".
    address = "127.0.%d.99" % NUMBER
    port = stack.part.expose(address, 0, echo.backend)
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            assert exchange(sock, b"x") == b"x"
        assert any(link["destination"] == "outside" for link in stack.part.status()["links"])
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
    late: AwsEndpoint | None = None
    try:
        part.start(PartContext(instance, instance.resolved(), short_dir, stack.context.log))
        wait_for(lambda: part.last_error is not None, "the first sync to fail while nothing answers")
        late = AwsEndpoint(stack.plane, host, port)
        late.start()
        expected = {s["SubnetId"] for s in stack.subnets.values()}
        wait_for(lambda: part.last_error is None and expected <= set(part.status().get("subnets", {})),
                 "the part to read EC2 once the endpoint answers", timeout_s=20)
    finally:
        part.stop()
        if late is not None:
            late.stop()


def _once(stack: Stack) -> Any:
    """An EC2 client that makes one attempt: the test sees the call's own answer, not a retry's."""
    return boto3.client("ec2", region_name=REGION, endpoint_url=stack.url, config=Config(retries={"total_max_attempts": 1}),
                        **LOCAL_CREDENTIALS)


def test_a_sync_failure_in_another_region_does_not_fail_this_regions_calls(stack: Stack) -> None:
    # Before: the error was part-wide, so any subnet or NACL call anywhere failed with a 503.
    other = "eu-central-1"
    with socket.socket() as probe:  # a port nothing listens on: every read of the other Region fails
        probe.bind((stack.context.instance.control_host, 0))
        dead = f"http://{stack.context.instance.control_host}:{probe.getsockname()[1]}"
    stack.part._ec2[other] = boto3.client("ec2", region_name=other, endpoint_url=dead, **LOCAL_CREDENTIALS,
                                          config=Config(retries={"total_max_attempts": 1}, connect_timeout=2))
    acl = deny_all_acl(stack)
    try:
        stack.part.request_sync([other], ("nacls",))
        wait_for(lambda: not stack.part.health().healthy, f"the sync of {other} to fail")
        _once(stack).create_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Protocol="-1", RuleAction="deny",
                                              Egress=False, CidrBlock="127.0.0.0/8")
        reasons = stack.part.health().reasons
        assert len(reasons) == 1 and reasons[0].startswith(f"{other}: cannot apply") and "Could not connect" in reasons[0]
    finally:
        del stack.part._ec2[other]  # the part's own client again: the retry reads the Region
        wait_for(lambda: stack.part.health().healthy, f"{other} to sync again", timeout_s=20)
        stack.ec2.delete_network_acl(NetworkAclId=acl)
    assert stack.part.health().healthy


def test_a_transient_read_failure_the_retry_fixes_does_not_fail_the_call(stack: Stack,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: the first failed read woke the waiting call with the error, though the retry 1 s
    # later applied the change; the call got a 503, and its SDK retries the remembered 503.
    read = stack.part._describe
    failures: list[str] = []

    def once_unreachable(region: str, operation: str, key: str) -> list[Any]:
        if region == REGION and operation == "describe_network_acls" and not failures:
            failures.append(operation)
            raise EndpointConnectionError(endpoint_url=stack.url)
        return read(region, operation, key)

    acl = deny_all_acl(stack)
    monkeypatch.setattr(stack.part, "_describe", once_unreachable)
    try:
        _once(stack).create_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Protocol="-1", RuleAction="deny",
                                              Egress=False, CidrBlock="127.0.0.0/8")
        assert failures and stack.part.health().healthy
    finally:
        monkeypatch.undo()
        stack.ec2.delete_network_acl(NetworkAclId=acl)


def _clients(stack: Stack) -> Any:
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in made:
            made[(service, region)] = boto3.client(service, region_name=region, endpoint_url=stack.url,
                                                   **LOCAL_CREDENTIALS)
        return made[(service, region)]

    return client


def _isolate_az(stack: Stack, tmp_path: Path) -> network.IsolateAz:
    """The AZ-isolation fault (the FIS NACL method) on us-east-1a, through the API like any experiment's."""
    subnet_id = stack.subnets["us-east-1a"]["SubnetId"]
    stack.ec2.create_tags(Resources=[subnet_id], Tags=[{"Key": "gameday:stack", "Value": "securecart"}])
    guard = Guard(Policy.for_environment(stack.context.environment))
    return network.IsolateAz(_clients(stack), Journal("fabric-test", tmp_path / "journal"), region=REGION,
                             availability_zone="us-east-1a", subnet_id=subnet_id, guard=guard)


def _unparseable_entry_in_ec2(stack: Stack) -> str:
    """A NACL, associated with nothing, holding an entry the fabric cannot parse; returns its id.

    Stored in moto's backend directly: the API rejects such entries, and this stands for any that
    slips past its validation. A valid call then makes the fabric read the Region again.
    """
    acl = stack.ec2.create_network_acl(VpcId=stack.vpc_id)["NetworkAcl"]["NetworkAclId"]
    backends.ec2(REGION).create_network_acl_entry(
        network_acl_id=acl, rule_number=10, protocol="-1", rule_action="deny", egress=False, cidr_block="999.0.0.0/8",
        icmp_code=None, icmp_type=None, port_range_from=None, port_range_to=None, ipv6_cidr_block=None)
    stack.ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=20, Protocol="-1", RuleAction="allow",
                                       Egress=False, CidrBlock="127.0.0.0/8")
    return acl


def test_with_an_unparseable_entry_in_ec2_an_az_isolation_still_isolates(stack: Stack, echo: EchoServer,
                                                                          tmp_path: Path) -> None:
    # Before: the entry failed every sync of the Region, so the isolation below changed EC2 and
    # nothing else: the connection kept flowing while the fault was "in".
    address = stack.host("us-east-1a")
    server = (address, stack.part.expose(address, 0, echo.backend))
    loose = _unparseable_entry_in_ec2(stack)
    try:
        with create_connection(server, source_address=stack.host("us-east-1b"), timeout_s=5) as sock:
            assert exchange(sock, b"before") == b"before"
            with _isolate_az(stack, tmp_path):
                sock.sendall(b"during")
                assert_silent(sock)
            sock.settimeout(5)
            assert sock.recv(6) == b"during"
        health = stack.part.health()  # what was skipped is reported, with the entry
        assert health.state == "degraded" and len(health.reasons) == 1
        assert loose in health.reasons[0] and "999.0.0.0/8" in health.reasons[0] and REGION in health.reasons[0]
    finally:
        stack.ec2.delete_network_acl(NetworkAclId=loose)
        stack.part.unexpose(*server)
    assert stack.part.health().healthy, "deleting the entry's NACL leaves nothing unenforced"


def test_a_call_whose_entry_the_fabric_cannot_apply_fails_naming_the_part_and_the_entry(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # The validation rejects this CIDR; switched off here, it stands for any entry that slips past it.
    ec2_validators, _ = controlplane_app._SERVICES["ec2"]  # the rules the control plane consults
    monkeypatch.delitem(ec2_validators, "CreateNetworkAclEntry")
    once = boto3.client("ec2", region_name=REGION, endpoint_url=stack.url, config=Config(retries={"total_max_attempts": 1}),
                        **LOCAL_CREDENTIALS)
    loose = stack.ec2.create_network_acl(VpcId=stack.vpc_id)["NetworkAcl"]["NetworkAclId"]
    try:
        with pytest.raises(ClientError) as raised:
            once.create_network_acl_entry(NetworkAclId=loose, RuleNumber=10, Protocol="-1", RuleAction="deny",
                                          Egress=False, CidrBlock="999.0.0.0/8")
        error, status = raised.value.response["Error"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert (error["Code"], status) == ("ServiceUnavailable", 503)
        assert "fabric" in error["Message"] and "999.0.0.0/8" in error["Message"]
        assert "is stored, but" in error["Message"] and "not enforced" in error["Message"]
        # An SDK's retry of that call gets the same answer, not the NetworkAclEntryAlreadyExists its
        # stored entry would give a new call.
        retrying = boto3.client("ec2", region_name=REGION, endpoint_url=stack.url, **LOCAL_CREDENTIALS,
                                config=Config(retries={"total_max_attempts": 2, "mode": "standard"}))
        with pytest.raises(ClientError) as raised:
            retrying.create_network_acl_entry(NetworkAclId=loose, RuleNumber=11, Protocol="-1", RuleAction="deny",
                                              Egress=False, CidrBlock="999.0.0.0/8")
        assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 1
        with pytest.raises(ClientError, match="NetworkAclEntryAlreadyExists"):
            once.create_network_acl_entry(NetworkAclId=loose, RuleNumber=11, Protocol="-1", RuleAction="deny",
                                          Egress=False, CidrBlock="999.0.0.0/8")
        once.delete_network_acl_entry(NetworkAclId=loose, RuleNumber=11, Egress=False)
        # The other calls of the Region go on, and are enforced: only the call that brought the entry failed.
        once.create_network_acl_entry(NetworkAclId=loose, RuleNumber=20, Protocol="6", RuleAction="allow",
                                      Egress=False, CidrBlock="127.0.0.0/8", PortRange={"From": 80, "To": 80})
        with pytest.raises(StackDegraded, match=r"(?s)fabric: us-east-1 acl-.*999\.0\.0\.0/8"):
            supervisor.refuse_if_degraded(stack.url, "the experiment")
        once.delete_network_acl_entry(NetworkAclId=loose, RuleNumber=10, Egress=False)
        assert stack.part.health().healthy
        # This endpoint runs the fabric alone, so the other parts stay refused as "not started".
        assert "fabric" not in supervisor.degraded_parts(supervisor.live_status(stack.url))
    finally:
        stack.ec2.delete_network_acl(NetworkAclId=loose)
