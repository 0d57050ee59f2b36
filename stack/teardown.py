"""Remove exactly what one build created: the resources tagged with its run and its stack, nothing else.

Every resource the builder creates carries ``gameday:stack=<stack>`` and ``gameday:run=<run id>``
(stack.builder). ``find`` lists them through the API alone (read-only calls), in every Region given;
``remove`` deletes them in dependency order: the CloudFront distribution (disabled, then deleted once
deployed), its origin access control and the assets bucket with its objects (stack.cdn), the hosted
zone's records then the zone, health checks, instances (and waits until terminated), read replicas
before their sources (and waits until deleted), DB subnet groups, subnets, VPCs, DynamoDB global tables
(their other replicas one at a time, as ``UpdateTable`` allows, then the table), secrets. A resource
without both tags, or with another run's, is never touched (an origin access control has no tags: its
name carries the run); neither is a record set in a zone this run did not create.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from botocore.exceptions import ClientError

from base import runid
from base.clients import ClientFactory
from stack import catalog, cdn

STACK_TAG = "gameday:stack"
GLOBAL = "us-east-1"  # Route 53's API lives there
# The order removal follows: what depends on something goes first.
ORDER = ("cloudfront-distribution", "origin-access-control", "s3-bucket",
         "hosted-zone", "health-check", "instance", "db-replica", "db-instance", "db-subnet-group", "subnet", "vpc",
         "dynamodb-table", "secret")


@dataclass(frozen=True)
class Found:
    kind: str  # one of ORDER
    region: str  # "global" for Route 53
    id: str  # what the delete call takes (an id, identifier, name or ARN)
    name: str = ""  # for the listing: a Name tag or the resource's own name


def _tags(pairs: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pairs or ()}


def _mine(tags: dict[str, str], stack_name: str, run_id: str) -> bool:
    return tags.get(STACK_TAG) == stack_name and tags.get(runid.TAG) == run_id


def _route53_tags(route53: Any, kind: str, ids: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 10):  # ListTagsForResources takes at most 10 ids
        answer = route53.list_tags_for_resources(ResourceType=kind, ResourceIds=ids[start:start + 10])
        for tag_set in answer["ResourceTagSets"]:
            found[tag_set["ResourceId"]] = _tags(tag_set.get("Tags"))
    return found


def find(clients: ClientFactory, regions: Iterable[str], stack_name: str, run_id: str) -> list[Found]:
    """What the build ``run_id`` of ``stack_name`` created and still exists, in removal order (reads only)."""
    found: list[Found] = []
    route53 = clients("route53", GLOBAL)
    zones = {str(z["Id"]).split("/")[-1]: z["Name"] for page in route53.get_paginator("list_hosted_zones").paginate()
             for z in page["HostedZones"]}
    for zone_id, tags in _route53_tags(route53, "hostedzone", list(zones)).items():
        if _mine(tags, stack_name, run_id):
            found.append(Found("hosted-zone", "global", zone_id, zones[zone_id]))
    checks = [c["Id"] for page in route53.get_paginator("list_health_checks").paginate() for c in page["HealthChecks"]]
    for check_id, tags in _route53_tags(route53, "healthcheck", checks).items():
        if _mine(tags, stack_name, run_id):
            found.append(Found("health-check", "global", check_id, tags.get("Name", "")))
    found += _edge(clients, stack_name, run_id)
    filters = [{"Name": f"tag:{STACK_TAG}", "Values": [stack_name]}, {"Name": f"tag:{runid.TAG}", "Values": [run_id]}]
    for region in regions:
        ec2, rds = clients("ec2", region), clients("rds", region)
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters + [{
                "Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]):
            for reservation in page["Reservations"]:
                found += [Found("instance", region, i["InstanceId"], _tags(i.get("Tags")).get("Name", ""))
                          for i in reservation["Instances"]]
        for page in rds.get_paginator("describe_db_instances").paginate():
            for db in page["DBInstances"]:
                if _mine(_tags(db.get("TagList")), stack_name, run_id) and db.get("DBInstanceStatus") != "deleting":
                    kind = "db-replica" if db.get("ReadReplicaSourceDBInstanceIdentifier") else "db-instance"
                    found.append(Found(kind, region, db["DBInstanceIdentifier"], db["DBInstanceIdentifier"]))
        for page in rds.get_paginator("describe_db_subnet_groups").paginate():
            for group in page["DBSubnetGroups"]:
                tags = _tags(rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"])
                if _mine(tags, stack_name, run_id):
                    found.append(Found("db-subnet-group", region, group["DBSubnetGroupName"], group["DBSubnetGroupName"]))
        found += [Found("subnet", region, s["SubnetId"], _tags(s.get("Tags")).get("Name", ""))
                  for page in ec2.get_paginator("describe_subnets").paginate(Filters=filters) for s in page["Subnets"]]
        found += [Found("vpc", region, v["VpcId"], _tags(v.get("Tags")).get("Name", ""))
                  for page in ec2.get_paginator("describe_vpcs").paginate(Filters=filters) for v in page["Vpcs"]]
        found += [Found("dynamodb-table", region, name, name) for name in _tables(clients("dynamodb", region), stack_name, run_id)
                  if not any(f.kind == "dynamodb-table" and f.id == name for f in found)]  # a global table: once
        for page in clients("secretsmanager", region).get_paginator("list_secrets").paginate():
            found += [Found("secret", region, s["ARN"], s["Name"]) for s in page["SecretList"]
                      if _mine(_tags(s.get("Tags")), stack_name, run_id)]
    return sorted(found, key=lambda f: ORDER.index(f.kind))


def _edge(clients: ClientFactory, stack_name: str, run_id: str) -> list[Found]:
    """The distribution, its origin access control (no tags: its name carries the run) and the assets bucket."""
    found = []
    cloudfront = clients("cloudfront", GLOBAL)
    for page in cloudfront.get_paginator("list_distributions").paginate():
        for summary in page["DistributionList"].get("Items") or []:
            tags = _tags(cloudfront.list_tags_for_resource(Resource=summary["ARN"])["Tags"].get("Items"))
            if _mine(tags, stack_name, run_id):
                found.append(Found("cloudfront-distribution", "global", summary["Id"], summary["DomainName"]))
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items") or []
    found += [Found("origin-access-control", "global", c["Id"], c["Name"]) for c in controls
              if c["Name"] == cdn.access_control_name(stack_name, run_id)]
    s3 = clients("s3", GLOBAL)
    for bucket in s3.list_buckets()["Buckets"]:
        if not bucket["Name"].startswith(f"{stack_name}-assets-"):
            continue
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchTagSet":
                raise
            continue
        if _mine(tags, stack_name, run_id):
            region = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint") or "us-east-1"
            found.append(Found("s3-bucket", region, bucket["Name"], bucket["Name"]))
    return found


def _remove_edge(clients: ClientFactory, found: list[Found], wait: dict[str, float]) -> None:
    """A distribution is deleted only once disabled and deployed, each call with the ETag it was read with."""
    cloudfront = clients("cloudfront", GLOBAL)
    for distribution in (f for f in found if f.kind == "cloudfront-distribution"):
        current = cloudfront.get_distribution_config(Id=distribution.id)
        if current["DistributionConfig"]["Enabled"]:
            cloudfront.update_distribution(Id=distribution.id, IfMatch=current["ETag"],
                                           DistributionConfig={**current["DistributionConfig"], "Enabled": False})
        cloudfront.get_waiter("distribution_deployed").wait(Id=distribution.id, WaiterConfig=wait)
        etag = cloudfront.get_distribution(Id=distribution.id)["ETag"]
        cloudfront.delete_distribution(Id=distribution.id, IfMatch=etag)
    for control in (f for f in found if f.kind == "origin-access-control"):
        etag = cloudfront.get_origin_access_control(Id=control.id)["ETag"]
        cloudfront.delete_origin_access_control(Id=control.id, IfMatch=etag)
    for bucket in (f for f in found if f.kind == "s3-bucket"):
        s3 = clients("s3", bucket.region)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.id):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:  # a page holds at most 1,000 keys, as many as DeleteObjects takes
                s3.delete_objects(Bucket=bucket.id, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket.id)


def _tables(dynamodb: Any, stack_name: str, run_id: str) -> list[str]:
    """The tables in one Region carrying both tags (every replica of a global table carries them)."""
    names = [name for page in dynamodb.get_paginator("list_tables").paginate() for name in page["TableNames"]]
    return [name for name in names
            if _mine(_tags(dynamodb.list_tags_of_resource(
                ResourceArn=dynamodb.describe_table(TableName=name)["Table"]["TableArn"]).get("Tags")), stack_name, run_id)]


def _empty_zone(route53: Any, zone_id: str, zone_name: str) -> None:
    """Delete every record set but the zone's own SOA and NS (Route 53 refuses to delete a zone that has any)."""
    changes = [{"Action": "DELETE", "ResourceRecordSet": record}
               for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
               for record in page["ResourceRecordSets"]
               if not (record["Name"] == zone_name and record["Type"] in ("SOA", "NS"))]
    for start in range(0, len(changes), 500):  # at most 1,000 elements per change batch
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
            "Comment": "gameday teardown", "Changes": changes[start:start + 500]})


def remove(clients: ClientFactory, found: list[Found], delay_s: float = 10.0, attempts: int = 180) -> list[str]:
    """Delete ``found`` (from ``find``) in order, waiting where a later deletion depends on it; returns what was done."""
    done: list[str] = []
    route53 = clients("route53", GLOBAL)
    wait = {"Delay": delay_s, "MaxAttempts": attempts}

    def of(kind: str) -> list[Found]:
        return [f for f in found if f.kind == kind]

    _remove_edge(clients, found, wait)
    for zone in of("hosted-zone"):
        _empty_zone(route53, zone.id, zone.name)
        route53.delete_hosted_zone(Id=zone.id)
    for check in of("health-check"):
        route53.delete_health_check(HealthCheckId=check.id)
    for region in sorted({f.region for f in of("instance")}):
        ids = [f.id for f in of("instance") if f.region == region]
        ec2 = clients("ec2", region)
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=wait)
    for kind in ("db-replica", "db-instance"):
        for db in of(kind):
            clients("rds", db.region).delete_db_instance(DBInstanceIdentifier=db.id, SkipFinalSnapshot=True,
                                                        DeleteAutomatedBackups=True)
        for db in of(kind):
            clients("rds", db.region).get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=db.id,
                                                                             WaiterConfig=wait)
    for group in of("db-subnet-group"):
        clients("rds", group.region).delete_db_subnet_group(DBSubnetGroupName=group.id)
    for subnet in of("subnet"):
        clients("ec2", subnet.region).delete_subnet(SubnetId=subnet.id)
    for vpc in of("vpc"):
        clients("ec2", vpc.region).delete_vpc(VpcId=vpc.id)
    for table in of("dynamodb-table"):
        spec = catalog.CatalogSpec(table.region, (table.region,), stack_name="", table=table.id)  # the table only
        catalog.Catalog(spec, lambda region: clients("dynamodb", region), None, delay_s, delay_s * attempts, []).remove_table()
    for secret in of("secret"):
        clients("secretsmanager", secret.region).delete_secret(SecretId=secret.id, ForceDeleteWithoutRecovery=True)
    for item in found:
        done.append(f"deleted {item.kind} {item.id} ({item.region})" + (f" {item.name}" if item.name != item.id else ""))
    return done
