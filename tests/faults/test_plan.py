"""The dry run: the plan names targets, exact calls and rollback; nothing mutating reaches the wire;
and the plan is what the fault really does (compared with a real run under moto, fault by fault)."""
from __future__ import annotations

import re
import unittest
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from botocore.exceptions import ParamValidationError
from moto import mock_aws
from moto.moto_api import state_manager

from faults import ec2, network, rds, route53
from faults.base import Fault
from faults.guard import Guard
from faults.journal import Journal
from faults.plan import DryRun, PlanningClients
from tests.faults.conftest import MOTO_ACCOUNT, Recorder, alarm, policy

STACK = [{"Key": "gameday:stack", "Value": "securecart"}]


@pytest.fixture
def clients() -> Iterator[Recorder]:
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 3})
    with mock_aws():
        yield Recorder()
    state_manager.unset_transition("fis::experiment")


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal("test-target", tmp_path / "journal")


def _network(clients: Recorder) -> list[str]:
    ec2_ = clients("ec2", "us-east-1")
    vpc = ec2_.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    return [ec2_.create_subnet(VpcId=vpc, CidrBlock=f"127.16.{n}.0/24", AvailabilityZone=f"us-east-1{az}",
                               TagSpecifications=[{"ResourceType": "subnet", "Tags": STACK}])["Subnet"]["SubnetId"]
            for n, az in ((1, "a"), (2, "b"))]


def _health_check(clients: Recorder) -> str:
    route53_ = clients("route53", "us-east-1")
    check_id = route53_.create_health_check(CallerReference="c", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "127.16.1.4", "Port": 8080})["HealthCheck"]["Id"]
    route53_.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, AddTags=STACK)
    return str(check_id)


def _databases(clients: Recorder) -> None:
    rds_ = clients("rds", "us-east-1")
    rds_.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro",
                            AllocatedStorage=20, MasterUsername="u", MasterUserPassword="p" * 12, MultiAZ=True, Tags=STACK)
    rds_.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier="orders",
                                         Tags=STACK)


def _instances(clients: Recorder) -> None:
    subnet = _network(clients)[0]
    clients("ec2", "us-east-1").run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2, SubnetId=subnet,
                                              TagSpecifications=[{"ResourceType": "instance", "Tags": STACK}])


# name -> (set the world up, make the fault)
Make = Callable[[Recorder, Journal, Guard], Fault]
SCENARIOS: dict[str, tuple[Callable[[Recorder], Any], Make]] = {
    "isolate_az": (_network, lambda c, j, g: network.IsolateAz(
        c, j, region="us-east-1", availability_zone="us-east-1a", subnet_id=_subnets(c)[0], guard=g)),
    "isolate_region": (_network, lambda c, j, g: network.IsolateRegion(
        c, j, region="us-east-1", subnet_ids=_subnets(c), guard=g)),
    "fail_health_check": (_health_check, lambda c, j, g: route53.FailHealthCheck(
        c, j, health_check_id=c("route53", "us-east-1").list_health_checks()["HealthChecks"][0]["Id"], guard=g)),
    "reboot_with_failover": (_databases, lambda c, j, g: rds.RebootWithFailover(
        c, j, region="us-east-1", db_instance_identifier="orders", guard=g, wait_delay_s=0.01)),
    "promote_replica": (_databases, lambda c, j, g: rds.PromoteReplica(
        c, j, region="us-east-1", db_instance_identifier="orders-replica", guard=g, wait_delay_s=0.01)),
    "stop_instances": (_instances, lambda c, j, g: ec2.StopInstances(
        c, j, region="us-east-1", tag=("gameday:stack", "securecart"), availability_zone="us-east-1a", guard=g)),
}
CASES = [(name, "api") for name in sorted(SCENARIOS)] + [
    ("isolate_az", "fis"), ("isolate_region", "fis"), ("reboot_with_failover", "fis")]


def _subnets(clients: Recorder) -> list[str]:
    return sorted(s["SubnetId"] for s in clients("ec2", "us-east-1").describe_subnets(
        Filters=[{"Name": "tag:gameday:stack", "Values": ["securecart"]}])["Subnets"])


def _matches(planned: Any, actual: Any) -> bool:
    """Equal, where a placeholder ("<Operation.Member>", "<journal entry id>") stands for what the run got."""
    if isinstance(planned, str) and "<" in planned:
        pattern = ".+".join(re.escape(part) for part in re.split(r"<[^<>]+>", planned))
        return re.fullmatch(pattern, str(actual)) is not None
    if isinstance(planned, dict) and isinstance(actual, dict):
        return planned.keys() == actual.keys() and all(_matches(planned[k], actual[k]) for k in planned)
    if isinstance(planned, list) and isinstance(actual, list):
        return len(planned) == len(actual) and all(_matches(p, a) for p, a in zip(planned, actual, strict=True))
    return bool(planned == actual)


@pytest.mark.parametrize("name,injector", CASES)
def test_the_plan_is_what_the_fault_does(name: str, injector: str, clients: Recorder, journal: Journal) -> None:
    setup, make = SCENARIOS[name]
    setup(clients)
    conditions = (alarm(clients),)
    dry = Guard(policy(dry_run=True, injector=injector, stop_conditions=conditions))
    clients.forbid_mutations = True
    clients.calls.clear()
    clients.wire.clear()
    with pytest.raises(DryRun):
        with make(clients, journal, dry):
            raise AssertionError("a dry run never runs the experiment's body")
    assert clients.mutating() == [] and clients.wire and all(op.startswith(("Describe", "Get", "List")) for op in clients.wire)
    assert not journal.path.exists(), "a dry run writes no journal"
    [planned] = dry.plan.faults
    clients.forbid_mutations = False

    clients.calls.clear()
    with make(clients, journal, Guard(policy(injector=injector, stop_conditions=conditions))) as fault:
        injected = clients.mutating_calls()
        clients.calls.clear()
    rolled_back = clients.mutating_calls()

    assert list(planned.targets) == fault.targets() and planned.targets
    assert planned.injector == injector
    for kind, plan, real in (("injection", planned.calls, injected), ("rollback", planned.rollback, rolled_back)):
        assert [c.operation for c in plan] == [op for _, op, _ in real], f"{kind}: operations differ"
        for call, (service, operation, params) in zip(plan, real, strict=True):
            assert call.service == service
            assert _matches(dict(call.params), params), f"{kind}: {operation} planned {call.params}, made {params}"


def test_the_plan_of_isolate_az_reads_as_a_runbook(clients: Recorder, journal: Journal) -> None:
    subnet = _network(clients)[0]
    ec2_ = clients("ec2", "us-east-1")
    acl = ec2_.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
    association = next(a["NetworkAclAssociationId"] for a in acl["Associations"] if a["SubnetId"] == subnet)
    guard = Guard(policy(dry_run=True, stop_conditions=(alarm(clients),)))
    with pytest.raises(DryRun, match=rf"dry run: network.isolate_az planned on arn:aws:ec2:us-east-1:{MOTO_ACCOUNT}:"
                                     rf"subnet/{subnet}; nothing was changed") as skipped:
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            pass
    assert isinstance(skipped.value, unittest.SkipTest), "pytest reports a planned experiment as skipped"
    [planned] = guard.plan.faults
    clone = "<CreateNetworkAcl.NetworkAcl.NetworkAclId>"
    assert [(c.operation, c.params.get("NetworkAclId")) for c in planned.calls] == [
        ("CreateNetworkAcl", None)] + [("CreateNetworkAclEntry", clone)] * 4 + [("ReplaceNetworkAclAssociation", clone)]
    assert planned.calls[0].params["VpcId"] == acl["VpcId"]
    assert planned.calls[-1].params == {"AssociationId": association, "NetworkAclId": clone}
    assert [c.params for c in planned.rollback] == [
        {"AssociationId": "<ReplaceNetworkAclAssociation.NewAssociationId>", "NetworkAclId": acl["NetworkAclId"]},
        {"NetworkAclId": clone}]
    assert planned.stop_conditions == ("checkout-5xx (us-east-1): OK",)
    text = guard.plan.text()
    assert "1. network.isolate_az  injector=api" in text and f"subnet/{subnet}" in text
    assert f'ec2.ReplaceNetworkAclAssociation [us-east-1] {{"AssociationId": "{association}"' in text
    assert "rollback:" in text and "ec2.DeleteNetworkAcl" in text


def test_planning_validates_every_call_against_the_model(clients: Recorder) -> None:
    planning = PlanningClients(clients)
    with pytest.raises(ParamValidationError, match="Unknown parameter in input"):
        planning("ec2", "us-east-1").create_network_acl(VpcId="vpc-1", Bogus=True)
    assert planning.calls == []
    answer = planning("route53", "us-east-1").update_health_check(HealthCheckId="abc", Inverted=True)
    assert answer["HealthCheck"]["HealthCheckVersion"] == "<UpdateHealthCheck.HealthCheck.HealthCheckVersion>"
    assert [c.operation for c in planning.calls] == ["UpdateHealthCheck"]
    assert clients.wire == []
