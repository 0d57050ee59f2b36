"""A fault's targets as the API describes them (ARN, id, Region, tags), read-only, for the guard and the plan."""
from __future__ import annotations

from typing import Any

from faults.guard import Caller, Resource


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items or []}


def subnets(ec2: Any, region: str, subnet_ids: list[str], caller: Caller) -> list[Resource]:
    """DescribeSubnets, in the order given. Raises botocore's ClientError for an unknown id."""
    if not subnet_ids:
        return []
    found = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]}
    return [Resource(found[i].get("SubnetArn") or f"arn:{caller.partition}:ec2:{region}:{found[i]['OwnerId']}:subnet/{i}",
                     i, region, _tags(found[i].get("Tags"))) for i in subnet_ids]


def db_instance(rds: Any, region: str, identifier: str) -> tuple[Resource, dict[str, Any]]:
    """DescribeDBInstances: the resource and the description."""
    described = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    return Resource(described["DBInstanceArn"], identifier, region, _tags(described.get("TagList"))), described


def health_check(route53: Any, health_check_id: str, caller: Caller) -> Resource:
    """ListTagsForResource on a health check (global: no Region, no account in its ARN)."""
    tag_set = route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=health_check_id)["ResourceTagSet"]
    return Resource(f"arn:{caller.partition}:route53:::healthcheck/{health_check_id}", health_check_id, "",
                    _tags(tag_set.get("Tags")))


def instances(ec2: Any, region: str, filters: list[dict[str, Any]], caller: Caller) -> list[Resource]:
    """DescribeInstances with ``filters``, every page."""
    found = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                arn = f"arn:{caller.partition}:ec2:{region}:{reservation['OwnerId']}:instance/{instance['InstanceId']}"
                found.append(Resource(arn, instance["InstanceId"], region, _tags(instance.get("Tags"))))
    return found
