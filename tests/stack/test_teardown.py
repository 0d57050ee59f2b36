"""Teardown removes exactly what one build created (its run and stack tags), and nothing else."""
from __future__ import annotations

from typing import Any


from environments import loader
from stack import builder, teardown

OTHER = [{"Key": "gameday:stack", "Value": "securecart"}, {"Key": "gameday:run", "Value": "run-b"}]


def _others(client: Any) -> dict[str, str]:
    """Resources of another run, and untagged ones, beside the build: what teardown must leave."""
    ec2 = client("ec2", "us-east-1")
    other_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": OTHER}])
    untagged_vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")
    subnet = ec2.create_subnet(VpcId=other_vpc["Vpc"]["VpcId"], CidrBlock="10.99.1.0/24", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": OTHER}])["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=[
        {"ResourceType": "instance", "Tags": OTHER}])["Instances"][0]["InstanceId"]
    route53 = client("route53", "us-east-1")
    check = route53.create_health_check(CallerReference="other", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "192.0.2.1", "Port": 80, "ResourcePath": "/"})["HealthCheck"]["Id"]
    route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check, AddTags=OTHER)
    client("rds", "us-east-1").create_db_instance(DBInstanceIdentifier="other-db", Engine="postgres",
                                                  DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                                                  MasterUsername="u", MasterUserPassword="password1", Tags=OTHER)
    secret = client("secretsmanager", "us-east-1").create_secret(Name="other/secret", SecretString="x", Tags=OTHER)
    s3 = client("s3", "us-east-1")
    for bucket, tags in (("securecart-assets-other", OTHER), ("securecart-assets-untagged", None)):
        s3.create_bucket(Bucket=bucket)
        if tags:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    return {"vpc": other_vpc["Vpc"]["VpcId"], "untagged-vpc": untagged_vpc["Vpc"]["VpcId"], "subnet": subnet,
            "instance": instance, "health-check": check, "db": "other-db", "secret": secret["ARN"]}


def test_teardown_removes_its_run_and_leaves_everything_else(client: Any) -> None:
    environment = loader.load("local")
    others = _others(client)
    built = builder.Builder(environment, client, builder.BuildOptions(wait_delay_s=0.01, run_id="run-a", catalog=False)).build()
    regions = list(environment.regions)
    found = teardown.find(client, regions, "securecart", "run-a")
    kinds = {f.kind for f in found}
    assert kinds == {"cloudfront-distribution", "origin-access-control", "s3-bucket", "hosted-zone", "health-check",
                     "instance", "db-replica", "db-instance", "db-subnet-group", "subnet", "vpc", "secret"}, kinds
    assert {f.id for f in found if f.kind == "instance"} == {i.instance_id for i in built.instances}

    done = teardown.remove(client, found, delay_s=0.01, attempts=50)

    assert len(done) == len(found)
    assert teardown.find(client, regions, "securecart", "run-a") == []
    ec2 = client("ec2", "us-east-1")
    assert {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]} >= {others["vpc"], others["untagged-vpc"]}
    assert [s["SubnetId"] for s in ec2.describe_subnets(SubnetIds=[others["subnet"]])["Subnets"]] == [others["subnet"]]
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    assert states[others["instance"]] == "running"
    assert all(state == "terminated" for iid, state in states.items() if iid != others["instance"])
    assert [c["Id"] for c in client("route53", "us-east-1").list_health_checks()["HealthChecks"]] == [others["health-check"]]
    assert client("route53", "us-east-1").list_hosted_zones()["HostedZones"] == []
    for region in ("us-east-1", "ap-southeast-1"):
        identifiers = [d["DBInstanceIdentifier"] for d in client("rds", region).describe_db_instances()["DBInstances"]]
        assert identifiers == (["other-db"] if region == "us-east-1" else [])
        assert client("rds", region).describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert [s["ARN"] for s in client("secretsmanager", "us-east-1").list_secrets()["SecretList"]] == [others["secret"]]
    assert client("cloudfront", "us-east-1").list_distributions()["DistributionList"]["Quantity"] == 0
    assert not client("cloudfront", "us-east-1").list_origin_access_controls()["OriginAccessControlList"].get("Items")
    assert sorted(b["Name"] for b in client("s3", "us-east-1").list_buckets()["Buckets"]) == [
        "securecart-assets-other", "securecart-assets-untagged"]


def test_teardown_of_another_run_finds_nothing_of_this_one(client: Any) -> None:
    environment = loader.load("local")
    builder.Builder(environment, client, builder.BuildOptions(wait_delay_s=0.01, run_id="run-a", catalog=False)).build()
    assert teardown.find(client, list(environment.regions), "securecart", "run-c") == []
    assert teardown.find(client, list(environment.regions), "another-stack", "run-a") == []
