"""UpdateTable's ReplicaUpdates (global tables 2019.11.21): replica status, deletion, and AWS's errors."""
from __future__ import annotations

import time
from typing import Callable

import pytest
from botocore.exceptions import ClientError

from base.deadline import until

from .conftest import Stack, new_table, wait_replicas


def error_of(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_a_replica_is_creating_then_active_in_every_region(stack: Stack) -> None:
    table = new_table(stack)
    east = stack.client("us-east-1")
    tables = stack.plane.global_tables
    now = time.monotonic()
    tables.clock = lambda: now  # stopped: the new replica stays CREATING, however slow the calls below
    try:
        answer = east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "us-west-2"}}])
        assert answer["TableDescription"]["Replicas"] == [{"RegionName": "us-east-1", "ReplicaStatus": "ACTIVE"},
                                                          {"RegionName": "us-west-2", "ReplicaStatus": "CREATING"}]
        assert answer["TableDescription"]["GlobalTableVersion"] == "2019.11.21"
        described = east.describe_table(TableName=table)["Table"]
        assert described["TableStatus"] == "UPDATING"
        code, message = error_of(lambda: east.update_table(
            TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "eu-central-1"}}]))
        assert code == "ResourceInUseException" and table in message
        west = stack.client("us-west-2").describe_table(TableName=table)["Table"]
        assert west["TableStatus"] == "CREATING" and west["KeySchema"] == described["KeySchema"]
        assert stack.replicas("us-west-2", table) == {"us-east-1": "ACTIVE", "us-west-2": "CREATING"}
    finally:
        tables.clock = time.monotonic
    for region in ("us-east-1", "us-west-2"):
        wait_replicas(stack, region, table, {"us-east-1", "us-west-2"})
        assert set(stack.replicas(region, table)) == {"us-east-1", "us-west-2"}
        assert stack.client(region).describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"


def test_deleting_a_replica_removes_its_table(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2", "eu-central-1")
    stack.client().put_item(TableName=table, Item={"id": {"S": "in-flight"}})  # owed to eu-central-1 for 0.29 s
    until(lambda: stack.part.status()["scheduled"] == 2, 0.25, "the write scheduled to both replicas", 0.002)
    stack.client().update_table(TableName=table, ReplicaUpdates=[{"Delete": {"RegionName": "eu-central-1"}}])
    code, _ = error_of(lambda: stack.client("eu-central-1").describe_table(TableName=table))
    assert code == "ResourceNotFoundException"
    assert stack.replicas("us-west-2", table) == {"us-east-1": "ACTIVE", "us-west-2": "ACTIVE"}
    stack.client("us-west-2").update_table(TableName=table, ReplicaUpdates=[{"Delete": {"RegionName": "us-east-1"}}])
    assert stack.replicas("us-west-2", table) == {}  # a Regional table again
    stack.client("us-west-2").put_item(TableName=table, Item={"id": {"S": "alone"}})
    stack.settled()
    assert stack.part.health().healthy, stack.part.health()  # a write owed to a deleted replica is not a fault
    assert stack.item("us-west-2", table, "in-flight") == {"id": {"S": "in-flight"}}


def test_replica_updates_aws_refuses_change_nothing(stack: Stack) -> None:
    table = new_table(stack)
    east = stack.client("us-east-1")

    def create(*regions: str) -> tuple[str, str]:
        return error_of(lambda: east.update_table(
            TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}} for region in regions]))

    assert create("us-east-1") == ("ValidationException", "Cannot add, delete, or update the local region through "
                                   "ReplicaUpdates. Use CreateTable, DeleteTable, or UpdateTable as required.")
    code, message = create("us-west-2", "ap-northeast-1")  # a Region this environment does not have
    assert code == "ValidationException" and "ap-northeast-1" in message
    code, _ = error_of(lambda: stack.client("us-west-2").describe_table(TableName=table))
    assert code == "ResourceNotFoundException"  # the valid half was not applied
    code, message = error_of(lambda: east.update_table(
        TableName="no-such-table", ReplicaUpdates=[{"Create": {"RegionName": "us-west-2"}}]))
    assert code == "ResourceNotFoundException" and "no-such-table" in message
    code, message = error_of(lambda: east.update_table(
        TableName=table, ReplicaUpdates=[{"Delete": {"RegionName": "us-west-2"}}]))
    assert code == "ValidationException" and "us-west-2" in message
    stack.client("us-west-2").create_table(  # a Regional table of the same name is in the way
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    code, message = create("us-west-2")
    assert code == "ValidationException" and "already exists" in message
    assert stack.replicas("us-east-1", table) == {}
