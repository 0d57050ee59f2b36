"""``injector: fis`` runs on the local stack: gameday's own FIS path, served by the local FIS part."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from faults import network as network_faults
from faults.guard import Guard
from faults.journal import Journal
from tests.faults.conftest import policy
from tests.stack.local.fis.conftest import Stack, acl_of


def test_isolate_az_with_injector_fis_cuts_the_subnet_through_the_local_fis(stack: Stack, network: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    ec2 = stack.client("ec2")
    subnet = network["subnets"]["us-east-1a"]["SubnetId"]
    ec2.create_tags(Resources=[subnet], Tags=[{"Key": "gameday:stack", "Value": "securecart"}])
    original = acl_of(stack, subnet)["NetworkAclId"]
    guard = Guard(policy(injector="fis", stop_conditions=()))
    with network_fault(stack, tmp_path, guard, subnet) as fault:
        assert fault.injector == "fis"
        during = acl_of(stack, subnet)
        assert during["NetworkAclId"] != original and {"Key": "managedByFIS", "Value": "true"} in during["Tags"]
    assert acl_of(stack, subnet)["NetworkAclId"] == original
    experiment = stack.client("fis").list_experiments()["experiments"]
    assert experiment and experiment[-1]["state"]["status"] == "stopped"


def network_fault(stack: Stack, tmp_path: Path, guard: Guard, subnet: str) -> network_faults.IsolateAz:
    return network_faults.IsolateAz(stack.client, Journal("test-target", tmp_path / "journal"), region="us-east-1",
                             availability_zone="us-east-1a", subnet_id=subnet, guard=guard)
