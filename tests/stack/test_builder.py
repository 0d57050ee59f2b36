"""The reference stack builder: what it creates, that it is idempotent, and the record tree."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from environments import loader
from stack import builder
from stack.handles import ReferenceStack
from stack.local.controlplane.rds import fix_cross_region_replicas


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    fix_cross_region_replicas()
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        yield lambda service, region: session.client(service, region_name=region)


@pytest.fixture(scope="module")
def built(client: Any) -> ReferenceStack:
    return builder.Builder(loader.load("local"), client, builder.BuildOptions(wait_delay_s=0.01, catalog=False)).build()


def test_network_and_fleet(built: ReferenceStack, client: Any) -> None:
    env = loader.load("local")
    assert {s.availability_zone for s in built.subnets} == {az for r in env.regions.values() for az in r.availability_zones}
    assert built.subnet("us-east-1a").cidr == "127.16.1.0/24"
    assert len(built.instances) == 8
    for instance in built.instances:
        subnet = built.subnet(instance.availability_zone)
        assert instance.private_ip.startswith(subnet.cidr.rsplit(".", 2)[0])
        assert instance.health_check_id
    user_data = client("ec2", "us-east-1").describe_instance_attribute(
        InstanceId=built.instances_in("us-east-1")[0].instance_id, Attribute="userData")
    assert user_data["UserData"]  # the checkout configuration contract is delivered


def test_database_and_replica(built: ReferenceStack, client: Any) -> None:
    assert built.database is not None and built.database.multi_az and built.database.region == "us-east-1"
    assert built.replica is not None and built.replica.region == "ap-southeast-1"
    described = client("rds", "ap-southeast-1").describe_db_instances(DBInstanceIdentifier="orders-replica")["DBInstances"][0]
    assert ":ap-southeast-1:" in described["DBInstanceArn"]
    secret = client("secretsmanager", "us-east-1").get_secret_value(SecretId=built.database.secret_id)
    assert "password" in secret["SecretString"]


def test_second_build_creates_nothing(built: ReferenceStack, client: Any) -> None:
    again = builder.Builder(loader.load("local"), client, builder.BuildOptions(wait_delay_s=0.01, catalog=False)).build()
    assert again.instances == built.instances
    assert again.zone_id == built.zone_id
    assert len(client("route53", "us-east-1").list_health_checks()["HealthChecks"]) == 8
    assert len(client("ec2", "us-east-1").describe_vpcs(Filters=[{"Name": "tag:gameday:stack", "Values": ["securecart"]}])["Vpcs"]) == 1


def test_record_tree(built: ReferenceStack, client: Any) -> None:
    records = client("route53", "us-east-1").list_resource_record_sets(HostedZoneId=built.zone_id)["ResourceRecordSets"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_name.setdefault(record["Name"], []).append(record)
    names = built.names
    failover = {r["Failover"]: r["AliasTarget"]["DNSName"] for r in by_name[names.checkout]}
    assert failover == {"PRIMARY": names.geo, "SECONDARY": names.regional("ap-southeast-1")}
    geo = {r["GeoLocation"].get("ContinentCode") or r["GeoLocation"]["CountryCode"]: r["AliasTarget"]["DNSName"]
           for r in by_name[names.geo]}
    assert geo == {"EU": names.regional("eu-central-1"), "*": names.latency}
    assert {r["Region"] for r in by_name[names.latency]} == {"us-east-1", "us-west-2", "eu-central-1"}
    assert all(r["AliasTarget"]["EvaluateTargetHealth"] for r in by_name[names.latency])
    regional = by_name[names.regional("us-east-1")]
    assert len(regional) == 2 and all(r["MultiValueAnswer"] and r["HealthCheckId"] for r in regional)
    assert sorted(r["Weight"] for r in by_name[names.canary]) == [10, 90]


def test_stack_fixture_builds_on_the_local_stack(stack: ReferenceStack, aws_client: Any) -> None:
    """Through the plugin, against the real local endpoint (started or attached by the session fixture)."""
    assert isinstance(stack, ReferenceStack)
    ec2 = aws_client("ec2", "eu-central-1")
    running = ec2.describe_instances(Filters=[{"Name": "tag:gameday:role", "Values": ["checkout"]}])["Reservations"]
    assert sum(len(r["Instances"]) for r in running) == 2
    assert stack.database is not None and stack.database.endpoint


def test_attach_finds_the_built_stack_and_changes_nothing(built: ReferenceStack, client: Any) -> None:
    records_before = client("route53", "us-east-1").list_resource_record_sets(HostedZoneId=built.zone_id)
    attached = builder.Builder(loader.load("local"), client, builder.BuildOptions(wait_delay_s=0.01, catalog=False)).attach()
    assert attached == built
    assert client("route53", "us-east-1").list_resource_record_sets(
        HostedZoneId=built.zone_id)["ResourceRecordSets"] == records_before["ResourceRecordSets"]


def test_attach_to_a_missing_stack_names_what_is_missing_and_creates_nothing(client: Any) -> None:
    options = builder.BuildOptions(stack_name="never-built", wait_delay_s=0.01, catalog=False)
    with pytest.raises(builder.BuildError, match=r"the reference stack 'never-built' is not complete: attaching to it "
                                                  r"would need create_vpc\(CidrBlock='127.16.0.0/16'\) \(ec2 in "
                                                  r"us-east-1\); build it with --build-stack"):
        builder.Builder(loader.load("local"), client, options).attach()
    assert client("ec2", "us-east-1").describe_vpcs(
        Filters=[{"Name": "tag:gameday:stack", "Values": ["never-built"]}])["Vpcs"] == []


def test_a_build_converges_the_writer_name_and_multi_az_back_to_the_spec(built: ReferenceStack, client: Any) -> None:
    from stack import topology

    spec = topology.spec_of(loader.load("local"))
    assert topology.drift(client, spec) == []
    client("route53", "us-east-1").change_resource_record_sets(HostedZoneId=built.zone_id, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": built.names.database, "Type": "CNAME", "TTL": 5,
                                                  "ResourceRecords": [{"Value": "elsewhere.example.com"}]}}]})
    client("rds", "us-east-1").modify_db_instance(DBInstanceIdentifier="orders", MultiAZ=False, ApplyImmediately=True)
    assert {d.kind for d in topology.drift(client, spec)} == {"writer-record", "multi-az"}
    again = builder.Builder(loader.load("local"), client, builder.BuildOptions(wait_delay_s=0.01, catalog=False))
    again.build()
    assert topology.drift(client, spec) == []
    assert [line.split(" ")[0] for line in again.converged] == ["pointed", "turned"], again.converged

