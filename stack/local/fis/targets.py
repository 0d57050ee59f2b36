"""Target resolution, as FIS does it: ARNs, or tags, then filters, then the selection mode.

Everything is read through the AWS API of the local endpoint (describe_instances, describe_subnets,
describe_db_instances, DynamoDB's describe_table), like FIS reads a real account. A filter's ``path``
names an attribute of the resource as that API shows it (``Placement.AvailabilityZone``); a resource
matches when the attribute equals one of the filter's values (booleans compare as ``true``/``false``).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from stack.local import fiscatalog

Clients = Callable[[str, str], Any]


class Unresolved(Exception):
    """A target resolved to nothing (``empty``), or names resources that cannot be read (FIS's InvalidTarget)."""

    def __init__(self, message: str, empty: bool = False) -> None:
        super().__init__(message)
        self.empty = empty


def _attribute(resource: Mapping[str, Any], path: str) -> str:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or resource.get("TagList") or ()}


def _id_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _instances(clients: Clients, region: str, ids: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    ec2 = clients("ec2", region)
    kwargs: dict[str, Any] = {"InstanceIds": ids} if ids else {}
    reservations = ec2.describe_instances(**kwargs)["Reservations"]
    account = reservations[0]["OwnerId"] if reservations else "123456789012"
    return [(f"arn:aws:ec2:{region}:{account}:instance/{i['InstanceId']}", i) for r in reservations for i in r["Instances"]
            if i["State"]["Name"] not in ("shutting-down", "terminated")]


def _subnets(clients: Clients, region: str, ids: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    ec2 = clients("ec2", region)
    subnets = ec2.describe_subnets(**({"SubnetIds": ids} if ids else {}))["Subnets"]
    return [(s.get("SubnetArn") or f"arn:aws:ec2:{region}:{s.get('OwnerId', '')}:subnet/{s['SubnetId']}", s)
            for s in subnets]


def _databases(clients: Clients, region: str, ids: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    rds = clients("rds", region)
    found = []
    for identifier in ids or [""]:
        kwargs = {"DBInstanceIdentifier": identifier} if identifier else {}
        found += rds.describe_db_instances(**kwargs)["DBInstances"]
    out = []
    for db in found:
        if "TagList" not in db:
            db = {**db, "TagList": rds.list_tags_for_resource(ResourceName=db["DBInstanceArn"])["TagList"]}
        out.append((db["DBInstanceArn"], db))
    return out


def _tables(clients: Clients, region: str, ids: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    dynamodb = clients("dynamodb", region)
    names = ids if ids else dynamodb.list_tables()["TableNames"]
    out = []
    for name in names:
        table = dynamodb.describe_table(TableName=name)["Table"]
        tags = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags") or []
        out.append((table["TableArn"], {**table, "Tags": tags}))
    return out


def _virtual_interfaces(clients: Clients, region: str, ids: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    dx = clients("directconnect", region)
    found = []
    for vif_id in ids or [""]:
        found += dx.describe_virtual_interfaces(**({"virtualInterfaceId": vif_id} if vif_id else {}))["virtualInterfaces"]
    # Direct Connect spells tags key/value; the selection reads Key/Value.
    return [(f"arn:aws:directconnect:{region}:{v['ownerAccount']}:dxvif/{v['virtualInterfaceId']}",
             {**v, "Tags": [{"Key": t["key"], "Value": t.get("value", "")} for t in v.get("tags") or ()]}) for v in found]


_READERS = {"aws:ec2:instance": _instances, "aws:ec2:subnet": _subnets, "aws:rds:db": _databases,
            "aws:dynamodb:global-table": _tables, "aws:directconnect:virtual-interface": _virtual_interfaces}


def resolve(clients: Clients, region: str, name: str, target: Mapping[str, Any],
            choose: Callable[[list[str], int], list[str]] = random.sample,
            described: dict[str, Mapping[str, Any]] | None = None) -> list[str]:
    """The ARNs ``target`` selects. Raises Unresolved when it selects nothing or names a missing resource.

    ``described``, when given, receives each selected resource as its Describe call showed it (an action
    that needs it then reads it no second time)."""
    kind = target["resourceType"]
    reader = _READERS.get(kind)
    if reader is None:
        raise Unresolved(f"target {name}: resources of type {kind} are not emulated by the local stack")
    arns = list(target.get("resourceArns") or [])
    try:
        found = reader(clients, region, [_id_of(arn) for arn in arns] or None)
    except Exception as error:  # noqa: BLE001 - a missing resource is the target's failure, with AWS's words
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        raise Unresolved(f"target {name}: {code} reading {', '.join(arns) or kind}: {error}") from None
    tags = target.get("resourceTags") or {}
    matching = [arn for arn, resource in found
                if all(_tags(resource).get(k) == v for k, v in tags.items())
                and all(_attribute(resource, f["path"]) in f.get("values", []) for f in target.get("filters") or ())]
    selected = fiscatalog.pick(target.get("selectionMode", "ALL"), matching, choose)
    if not selected:
        how = f"ARNs {arns}" if arns else f"tags {dict(tags)}"
        raise Unresolved(f"target {name}: no {kind} resource matches {how} and filters {target.get('filters') or []} "
                         f"in {region}", empty=True)
    if described is not None:
        shown = dict(found)
        described.update({arn: shown[arn] for arn in selected})
    return selected
