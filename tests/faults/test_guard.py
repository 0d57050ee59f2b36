"""The safety guard: allowlisted account and Regions, the target tag, and no mutating call when refused."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from environments import loader
from faults import ec2, network, rds, route53
from faults.base import Fault
from faults import guard as guard_
from faults.guard import (AccountNotAllowed, Guard, NoGuard, Policy, RegionNotAllowed, Resource, TargetNotTagged)
from faults.journal import Journal
from tests.faults.conftest import MOTO_ACCOUNT, Recorder, policy

STACK = [{"Key": "gameday:stack", "Value": "securecart"}]
OTHER = [{"Key": "gameday:stack", "Value": "someone-else"}]



def _subnet(clients: Recorder, tags: list[dict[str, str]], region: str = "us-east-1") -> str:
    ec2_ = clients("ec2", region)
    vpc = ec2_.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    return str(ec2_.create_subnet(VpcId=vpc, CidrBlock="127.16.1.0/24", AvailabilityZone=f"{region}a", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": tags}])["Subnet"]["SubnetId"])


def _health_check(clients: Recorder, tags: list[dict[str, str]]) -> str:
    route53_ = clients("route53", "us-east-1")
    check_id = route53_.create_health_check(CallerReference="c", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "127.16.1.4", "Port": 8080})["HealthCheck"]["Id"]
    route53_.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, AddTags=tags)
    return str(check_id)


def _database(clients: Recorder, tags: list[dict[str, str]]) -> str:
    clients("rds", "us-east-1").create_db_instance(
        DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="p" * 12, MultiAZ=True, Tags=tags)
    return "orders"


def _instance(clients: Recorder, tags: list[dict[str, str]]) -> str:
    subnet = _subnet(clients, STACK)
    return str(clients("ec2", "us-east-1").run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags + [{"Key": "gameday:role", "Value": "checkout"}]}],
    )["Instances"][0]["InstanceId"])


Build = Callable[[Recorder, Journal, Guard, list[dict[str, str]]], tuple[Fault, str]]
FAULTS: dict[str, Build] = {
    "isolate_az": lambda c, j, g, t: (network.IsolateAz(c, j, region="us-east-1", availability_zone="us-east-1a",
                                                        subnet_id=(s := _subnet(c, t)), guard=g),
                                      f"arn:aws:ec2:us-east-1:{MOTO_ACCOUNT}:subnet/{s}"),
    "fail_health_check": lambda c, j, g, t: (route53.FailHealthCheck(c, j, health_check_id=(h := _health_check(c, t)),
                                                                     guard=g), f"arn:aws:route53:::healthcheck/{h}"),
    "reboot_with_failover": lambda c, j, g, t: (rds.RebootWithFailover(c, j, region="us-east-1", guard=g,
                                                                       db_instance_identifier=_database(c, t)),
                                                f"arn:aws:rds:us-east-1:{MOTO_ACCOUNT}:db:orders"),
    "stop_instances": lambda c, j, g, t: (ec2.StopInstances(c, j, region="us-east-1", tag=("gameday:role", "checkout"),
                                                            guard=g), f"instance/{_instance(c, t)}"),
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_untagged_target_is_refused_with_its_arn(kind: str, clients: Recorder, journal: Journal) -> None:
    fault, arn = FAULTS[kind](clients, journal, Guard(policy()), OTHER)
    clients.calls.clear()
    with pytest.raises(TargetNotTagged) as refused:
        with fault:
            raise AssertionError("the body must not run")
    assert arn in str(refused.value)
    assert "gameday:stack=securecart (it has gameday:stack=someone-else)" in str(refused.value)
    assert clients.mutating() == []
    assert not journal.path.exists(), "a refused fault journals nothing"


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_tagged_target_passes(kind: str, clients: Recorder, journal: Journal) -> None:
    fault, arn = FAULTS[kind](clients, journal, Guard(policy()), STACK)
    with fault:
        assert any(target.endswith(arn) for target in fault.targets())


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_wrong_account_stops_before_any_mutating_call(kind: str, clients: Recorder, journal: Journal) -> None:
    fault, _ = FAULTS[kind](clients, journal, Guard(policy(account_id="111122223333", environment="staging")), STACK)
    clients.calls.clear()
    with pytest.raises(AccountNotAllowed, match=rf"{fault.name}: the credentials are for account {MOTO_ACCOUNT} "
                                                r"\(arn:aws:sts::123456789012:user/moto\), but environment staging "
                                                r"allows only account 111122223333; nothing was changed"):
        with fault:
            raise AssertionError("the body must not run")
    assert [op for _, op, _ in clients.calls] == ["GetCallerIdentity"], "STS is asked first, and nothing else"
    assert not journal.path.exists()


def test_region_outside_the_allowlist_is_refused_before_sts(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients, STACK, region="eu-west-1")
    clients.calls.clear()
    fault = network.IsolateAz(clients, journal, region="eu-west-1", availability_zone="eu-west-1a", subnet_id=subnet,
                              guard=Guard(policy()))
    with pytest.raises(RegionNotAllowed, match=r"network.isolate_az: Region eu-west-1 is not in environment moto's "
                                               r"allowlist \['us-east-1', 'us-west-2', 'eu-central-1', 'ap-southeast-1'\]"):
        fault.__enter__()
    assert clients.calls == []


def test_a_fault_without_a_guard_refuses(clients: Recorder, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    subnet = _subnet(clients, STACK)
    monkeypatch.setattr(guard_, "_installed", [])  # not even the one the plugin installs for this session
    assert guard_.current() is None
    with pytest.raises(NoGuard, match="no safety guard is in force"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet):
            pass
    assert clients.calls[-1][1] == "CreateSubnet"


def test_the_installed_guard_applies_to_faults_given_none(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients, STACK)
    session_guard = guard_.current()  # the plugin's, for the local environment
    with guard_.installed(Guard(policy(account_id="111122223333"))):
        with pytest.raises(AccountNotAllowed):
            with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet):
                pass
    assert guard_.current() is session_guard


def test_targets_from_another_account_or_region_are_refused() -> None:
    guard = Guard(policy())
    tagged = {"gameday:stack": "securecart"}
    with pytest.raises(AccountNotAllowed, match=r"arn:aws:ec2:us-east-1:999999999999:subnet/subnet-1 belongs to account "
                                                r"999999999999, not the allowed 123456789012"):
        guard.check_targets([Resource("arn:aws:ec2:us-east-1:999999999999:subnet/subnet-1", "subnet-1", "us-east-1",
                                      tagged)], "test")
    with pytest.raises(RegionNotAllowed, match="Region sa-east-1 is not in"):
        guard.check_targets([Resource(f"arn:aws:ec2:sa-east-1:{MOTO_ACCOUNT}:subnet/subnet-1", "subnet-1", "sa-east-1",
                                      tagged)], "test")
    guard.check_targets([Resource("arn:aws:route53:::healthcheck/abc", "abc", "", tagged)], "test")  # global: no Region


def test_policy_of_an_aws_environment() -> None:
    policy_ = Policy.for_environment(loader.load("aws-example"), dry_run=True, run_id="r1")
    assert policy_.account_id == "111122223333"
    assert policy_.regions == ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1")
    assert policy_.target_tag == ("gameday:target", "true")
    assert [(c.alarm_name, c.region) for c in policy_.stop_conditions] == [
        ("securecart-checkout-5xx-high", "us-east-1"), ("securecart-orders-db-cpu-high", "us-east-1")]
    assert (policy_.injector, policy_.dry_run, policy_.run_id, policy_.watch_interval_s) == ("api", True, "r1", 10.0)


def test_policy_of_the_local_environment() -> None:
    policy_ = Policy.for_environment(loader.load("local"))
    assert policy_.account_id == MOTO_ACCOUNT  # moto's account: the local stack answers STS with it
    assert policy_.regions == ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1")
    assert policy_.target_tag == ("gameday:stack", "securecart")  # what the reference builder tags everything with
    assert policy_.stop_conditions == () and policy_.injector == "api"
    assert policy_.watch_interval_s == pytest.approx(1.0)  # 10 s AWS-equivalent at time_scale 0.1


def test_resources_a_fault_creates_carry_the_run_id(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients, STACK)
    with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                           guard=Guard(policy(run_id="20250101T000000Z-abc123"))) as fault:
        acls = clients("ec2", "us-east-1").describe_network_acls(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
        tags: dict[str, Any] = {t["Key"]: t["Value"] for t in acls[0]["Tags"]}
        assert tags["gameday:run"] == "20250101T000000Z-abc123"
        assert fault.entry is not None and tags["gameday:fault"] == fault.entry.id
