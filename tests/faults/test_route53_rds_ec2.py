"""route53.fail_health_check, rds.reboot_with_failover, rds.promote_replica, ec2.stop_instances."""
from __future__ import annotations

import pytest

from faults import ec2, leftovers, rds, route53
from faults import journal as journal_
from base.errors import FaultError
from faults.journal import Journal
from tests.faults.conftest import Recorder

pytestmark = pytest.mark.usefixtures("guard")
STACK = [{"Key": "gameday:stack", "Value": "securecart"}]


def _check(clients: Recorder) -> str:
    route53 = clients("route53", "us-east-1")
    check_id = route53.create_health_check(CallerReference="c", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "127.16.1.4", "Port": 8080, "ResourcePath": "/health"})["HealthCheck"]["Id"]
    route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, AddTags=STACK)
    return str(check_id)


def _inverted(clients: Recorder, check_id: str) -> bool:
    return bool(clients("route53", "us-east-1").get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Inverted"])


def test_fail_health_check_inverts_with_the_version_it_read(clients: Recorder, journal: Journal) -> None:
    check_id = _check(clients)
    with route53.FailHealthCheck(clients, journal, health_check_id=check_id):
        assert _inverted(clients, check_id)
    assert not _inverted(clients, check_id)
    updates = [params for _, op, params in clients.calls if op == "UpdateHealthCheck"]
    assert updates[0] == {"HealthCheckId": check_id, "HealthCheckVersion": 1, "Inverted": True}
    assert updates[1]["Inverted"] is False


def test_rollback_refuses_to_overwrite_a_concurrent_edit(clients: Recorder, journal: Journal) -> None:
    check_id = _check(clients)
    fault = route53.FailHealthCheck(clients, journal, health_check_id=check_id)
    fault.__enter__()
    # moto does not bump HealthCheckVersion (our control plane does); emulate someone else's edit.
    from moto.route53.models import route53_backends

    route53_backends["123456789012"]["aws"].health_checks[check_id].health_check_version = 7
    with pytest.raises(FaultError, match="was changed by someone else"):
        fault.__exit__(None, None, None)
    assert _inverted(clients, check_id)


def _database(clients: Recorder, multi_az: bool = True) -> None:
    clients("rds", "us-east-1").create_db_instance(
        DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="p" * 12, MultiAZ=multi_az, Tags=STACK)


def test_reboot_with_failover_makes_exactly_that_call(clients: Recorder, journal: Journal) -> None:
    _database(clients)
    with rds.RebootWithFailover(clients, journal, region="us-east-1", db_instance_identifier="orders", wait_delay_s=0.01):
        pass
    assert [(op, p) for _, op, p in clients.calls if op == "RebootDBInstance"] == [
        ("RebootDBInstance", {"DBInstanceIdentifier": "orders", "ForceFailover": True})]


def test_promote_replica(clients: Recorder, journal: Journal) -> None:
    _database(clients)
    clients("rds", "us-east-1").create_db_instance_read_replica(DBInstanceIdentifier="orders-replica",
                                                                 SourceDBInstanceIdentifier="orders", Tags=STACK)
    with rds.PromoteReplica(clients, journal, region="us-east-1", db_instance_identifier="orders-replica", wait_delay_s=0.01):
        pass
    assert ("rds", "PromoteReadReplica", {"DBInstanceIdentifier": "orders-replica"}) in clients.calls


def test_stop_instances_by_az_and_start_them_again(clients: Recorder, journal: Journal) -> None:
    client = clients("ec2", "us-east-1")
    vpc = client.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "gameday:stack", "Value": "securecart"}]}]
    ids = {}
    for n, az in ((1, "us-east-1a"), (2, "us-east-1b")):
        subnet = client.create_subnet(VpcId=vpc, CidrBlock=f"127.16.{n}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        ids[az] = client.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnet,
                                       TagSpecifications=tags)["Instances"][0]["InstanceId"]

    def state(az: str) -> str:
        return client.describe_instances(InstanceIds=[ids[az]])["Reservations"][0]["Instances"][0]["State"]["Name"]

    with ec2.StopInstances(clients, journal, region="us-east-1", tag=("gameday:stack", "securecart"),
                           availability_zone="us-east-1a") as fault:
        assert fault.targets() == [f"arn:aws:ec2:us-east-1:123456789012:instance/{ids['us-east-1a']}"]
        assert state("us-east-1a") == "stopped" and state("us-east-1b") == "running"
        assert [i.resource for i in leftovers.scan(clients, ["us-east-1"], ("gameday:stack", "securecart"))] == [ids["us-east-1a"]]
    assert state("us-east-1a") == "running"


def test_health_check_update_failing_leaves_it_as_it_was(clients: Recorder, journal: Journal) -> None:
    check_id = _check(clients)
    clients.fail_on = "UpdateHealthCheck"
    with pytest.raises(FaultError, match="route53.fail_health_check: injecting failed with Throttling"):
        with route53.FailHealthCheck(clients, journal, health_check_id=check_id):
            pass
    clients.fail_on = None
    assert not _inverted(clients, check_id)
    assert [op for _, op, _ in clients.calls if op == "UpdateHealthCheck"] == ["UpdateHealthCheck"], \
        "the rollback saw the check unchanged and wrote nothing"
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []


def _two_tagged_instances(clients: Recorder) -> list[str]:
    """Two running instances in us-east-1a carrying the stack tag; their ids."""
    client = clients("ec2", "us-east-1")
    vpc = client.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="127.16.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    return [i["InstanceId"] for i in client.run_instances(
        ImageId="ami-12345678", MinCount=2, MaxCount=2, SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": STACK}])["Instances"]]


def test_stop_instances_failing_half_way_starts_them_again(clients: Recorder, journal: Journal) -> None:
    ids = _two_tagged_instances(clients)
    clients.fail_on = "StopInstances"
    with pytest.raises(FaultError, match="ec2.stop_instances: injecting failed"):
        with ec2.StopInstances(clients, journal, region="us-east-1", tag=("gameday:stack", "securecart")):
            pass
    clients.fail_on = None
    assert [(op, p) for _, op, p in clients.mutating_calls()][-2:] == [
        ("StopInstances", {"InstanceIds": ids}), ("StartInstances", {"InstanceIds": ids})]


def test_reboot_failing_still_waits_for_the_instance(clients: Recorder, journal: Journal) -> None:
    _database(clients)
    clients.fail_on = "RebootDBInstance"
    with pytest.raises(FaultError, match="rds.reboot_with_failover: injecting failed"):
        with rds.RebootWithFailover(clients, journal, region="us-east-1", db_instance_identifier="orders",
                                    wait_delay_s=0.01):
            pass
    clients.fail_on = None
    assert clients.calls[-1][1:] == ("DescribeDBInstances", {"DBInstanceIdentifier": "orders"})
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []


def test_stop_instances_waits_until_stopped_and_its_rollback_until_running(clients: Recorder, journal: Journal) -> None:
    ids = _two_tagged_instances(clients)
    clients.calls.clear()
    with ec2.StopInstances(clients, journal, region="us-east-1", tag=("gameday:stack", "securecart")):
        injected = [(op, p) for _, op, p in clients.calls]
    after = [(op, p) for _, op, p in clients.calls][len(injected):]
    # The waiters' DescribeInstances on exactly these instances follow each state change.
    stop = injected.index(("StopInstances", {"InstanceIds": ids}))
    assert injected[stop + 1] == ("DescribeInstances", {"InstanceIds": ids})
    start = after.index(("StartInstances", {"InstanceIds": ids}))
    assert after[start + 1] == ("DescribeInstances", {"InstanceIds": ids})
    reservations = clients("ec2", "us-east-1").describe_instances(InstanceIds=ids)["Reservations"]
    states = {i["State"]["Name"] for r in reservations for i in r["Instances"]}
    assert states == {"running"}
