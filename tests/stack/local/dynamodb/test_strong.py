"""Multi-Region strong consistency (MRSC): creation, synchronous writes, strong reads, conflicts, a cut-off Region."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from base.deadline import until
from faults import guard as guard_
from faults.dynamodb import PauseReplication
from faults.guard import Guard
from faults.journal import Journal
from tests.faults.conftest import STACK_TAG, Recorder, policy

from .conftest import Stack, new_table, wait_replicas

THREE = ("us-east-1", "us-west-2", "eu-central-1")
ROLE = "arn:aws:iam::123456789012:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"
AUTOSCALING_ROLE = ("arn:aws:iam::123456789012:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable")


def error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def strong_table(stack: Stack, witness: str | None = None) -> str:
    """An MRSC table in us-east-1 and us-west-2, with eu-central-1 as third replica or as ``witness``."""
    name = new_table(stack)
    creates = [{"Create": {"RegionName": r}} for r in THREE[1:] if r != witness]
    extra = {"GlobalTableWitnessUpdates": [{"Create": {"RegionName": witness}}]} if witness else {}
    stack.client().update_table(TableName=name, MultiRegionConsistency="STRONG", ReplicaUpdates=creates, **extra)
    wait_replicas(stack, "us-east-1", name, {r for r in THREE if r != witness})
    return name


def put(stack: Stack, region: str, table: str, key: str, price: int) -> None:
    stack.client(region).put_item(TableName=table, Item={"id": {"S": key}, "price": {"N": str(price)}})


def price(stack: Stack, region: str, table: str, key: str, consistent: bool = True) -> int | None:
    item = stack.client(region).get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=consistent).get("Item")
    return int(item["price"]["N"]) if item else None


def pause_replication(stack: Stack, region: str, table: str) -> None:
    """The statements FIS's aws:dynamodb:global-table-pause-replication appends to an MRSC replica's policy."""
    arn = stack.client(region).describe_table(TableName=table)["Table"]["TableArn"]
    ends = {"aws:CurrentTime": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DoNotModifyFisDynamoDbPauseReplicationEXPtest", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": ["dynamodb:UpdateTable"], "Resource": arn,
         "Condition": {"DateLessThan": ends, "ArnEquals": {"aws:PrincipalArn": ROLE}}},
        {"Sid": "DoNotModifyFisDynamoDbPauseReplicationEXPtestForApplicationAutoScaling", "Effect": "Deny",
         "Principal": {"AWS": "*"}, "Action": ["dynamodb:DescribeTable", "dynamodb:UpdateTable"], "Resource": arn,
         "Condition": {"DateLessThan": ends, "ArnEquals": {"aws:PrincipalArn": AUTOSCALING_ROLE}}}]}
    stack.client(region).put_resource_policy(ResourceArn=arn, Policy=json.dumps(policy))


def resume_replication(stack: Stack, region: str, table: str) -> None:
    arn = stack.client(region).describe_table(TableName=table)["Table"]["TableArn"]
    stack.client(region).delete_resource_policy(ResourceArn=arn)


def test_an_mrsc_table_is_described_as_strong_in_every_region(stack: Stack) -> None:
    table = strong_table(stack)
    for region in THREE:
        described = stack.client(region).describe_table(TableName=table)["Table"]
        assert described["MultiRegionConsistency"] == "STRONG"
        assert {r["RegionName"]: r["ReplicaStatus"] for r in described["Replicas"]} == dict.fromkeys(THREE, "ACTIVE")
        assert "GlobalTableWitnesses" not in described
    witnessed = strong_table(stack, witness="eu-central-1")
    described = stack.client("us-west-2").describe_table(TableName=witnessed)["Table"]
    assert described["GlobalTableWitnesses"] == [{"RegionName": "eu-central-1", "WitnessStatus": "ACTIVE"}]
    assert sorted(r["RegionName"] for r in described["Replicas"]) == ["us-east-1", "us-west-2"]
    assert error_code(lambda: stack.client("eu-central-1").describe_table(TableName=witnessed)) \
        == "ResourceNotFoundException"  # a witness holds no table in the account


def test_invalid_set_ups_are_refused_and_nothing_changes(stack: Stack) -> None:
    east = stack.client()
    table = new_table(stack)
    invalid = [
        {"ReplicaUpdates": [{"Create": {"RegionName": "us-west-2"}}]},  # two Regions
        {"ReplicaUpdates": [{"Create": {"RegionName": r}} for r in ("us-west-2", "eu-central-1", "ap-southeast-1")]},
        {"ReplicaUpdates": [{"Create": {"RegionName": "us-west-2"}}],
         "GlobalTableWitnessUpdates": [{"Create": {"RegionName": "us-west-2"}}]},  # witness on a replica's Region
        {"ReplicaUpdates": [{"Create": {"RegionName": "us-west-2"}}],
         "GlobalTableWitnessUpdates": [{"Create": {"RegionName": "us-east-2"}}]},  # not enabled here
    ]
    for extra in invalid:
        assert error_code(lambda extra=extra: east.update_table(  # type: ignore[misc]
            TableName=table, MultiRegionConsistency="STRONG", **extra)) == "ValidationException", extra
    assert stack.replicas("us-east-1", table) == {}  # nothing half-applied
    put(stack, "us-east-1", table, "p1", 1)
    assert error_code(lambda: east.update_table(
        TableName=table, MultiRegionConsistency="STRONG",
        ReplicaUpdates=[{"Create": {"RegionName": r}} for r in THREE[1:]])) == "ValidationException"  # not empty
    strong = strong_table(stack)
    refused = [
        lambda: east.update_table(TableName=strong, ReplicaUpdates=[{"Create": {"RegionName": "ap-southeast-1"}}]),
        lambda: east.update_table(TableName=strong, ReplicaUpdates=[{"Delete": {"RegionName": "us-west-2"}}]),
        lambda: east.update_time_to_live(TableName=strong, TimeToLiveSpecification={"Enabled": True,
                                                                                   "AttributeName": "ttl"}),
        lambda: east.transact_write_items(TransactItems=[{"Put": {"TableName": strong, "Item": {"id": {"S": "t"}}}}]),
    ]
    for call in refused:
        assert error_code(call) == "ValidationException"
    assert stack.replicas("us-east-1", strong) == dict.fromkeys(THREE, "ACTIVE")
    assert price(stack, "us-east-1", strong, "t") is None
    # Two replicas deleted at once: what is left is a single-Region table, written as any other.
    east.update_table(TableName=strong, ReplicaUpdates=[{"Delete": {"RegionName": r}} for r in THREE[1:]])
    assert "MultiRegionConsistency" not in east.describe_table(TableName=strong)["Table"]
    put(stack, "us-east-1", strong, "p2", 2)


def test_an_acknowledged_write_is_read_strongly_everywhere_after_the_modelled_delay(stack: Stack) -> None:
    table = strong_table(stack)
    for source in THREE:
        nearest = min(stack.part.delay_s(source, other) for other in THREE if other != source)
        began = time.monotonic()
        put(stack, source, table, "p1", THREE.index(source) + 10)
        took = time.monotonic() - began
        assert took >= nearest, f"a write in {source} took {took:.3f} s, less than the modelled {nearest:.3f} s"
        for region in THREE:  # immediately, no waiting: the write was replicated before it was acknowledged
            assert price(stack, region, table, "p1") == THREE.index(source) + 10
    stack.client("eu-central-1").update_item(TableName=table, Key={"id": {"S": "p1"}}, UpdateExpression="SET price = :p",
                                             ExpressionAttributeValues={":p": {"N": "99"}})
    stack.client("us-west-2").delete_item(TableName=table, Key={"id": {"S": "gone"}})
    assert [price(stack, r, table, "p1") for r in THREE] == [99, 99, 99]
    # A conditional write sees the latest version wherever it is made.
    assert error_code(lambda: stack.client("us-west-2").put_item(
        TableName=table, Item={"id": {"S": "p1"}}, ConditionExpression="price = :old",
        ExpressionAttributeValues={":old": {"N": "12"}})) == "ConditionalCheckFailedException"


def test_concurrent_writes_to_one_item_from_two_regions_conflict(stack: Stack) -> None:
    table = strong_table(stack)
    outcomes: dict[str, str] = {}
    for _attempt in range(5):  # each write is in flight for the modelled delay; a start lagging more retries
        start = threading.Barrier(2)

        def write(region: str, value: int, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                put(stack, region, table, "hot", value)
                outcomes[region] = "ok"
            except ClientError as error:
                outcomes[region] = str(error.response["Error"]["Code"])

        threads = [threading.Thread(target=write, args=(r, v)) for r, v in (("us-east-1", 1), ("us-west-2", 2))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        if "ReplicatedWriteConflictException" in outcomes.values():
            break
    assert sorted(outcomes.values()) == ["ReplicatedWriteConflictException", "ok"], outcomes
    winner = next(r for r, outcome in outcomes.items() if outcome == "ok")
    assert [price(stack, r, table, "hot") for r in THREE] == [{"us-east-1": 1, "us-west-2": 2}[winner]] * 3
    loser = next(r for r in outcomes if r != winner)
    put(stack, loser, table, "hot", 3)  # retried once the other write is done, it succeeds
    assert [price(stack, r, table, "hot") for r in THREE] == [3, 3, 3]


def test_a_cut_off_region_fails_its_writes_and_catches_up_when_it_returns(stack: Stack) -> None:
    table = strong_table(stack)
    put(stack, "us-east-1", table, "p1", 1)
    pause_replication(stack, "us-west-2", table)
    try:
        assert error_code(lambda: put(stack, "us-west-2", table, "p1", 2)) == "AccessDeniedException"
        assert error_code(lambda: price(stack, "us-west-2", table, "p1")) == "AccessDeniedException"
        put(stack, "us-east-1", table, "p1", 3)  # the other two still make a quorum
        put(stack, "eu-central-1", table, "p2", 4)
        assert price(stack, "eu-central-1", table, "p1") == 3
        assert price(stack, "us-west-2", table, "p1", consistent=False) == 1  # stale, not diverged
        assert stack.replicas("us-east-1", table)["us-west-2"] == "REPLICATION_NOT_AUTHORIZED"
    finally:
        resume_replication(stack, "us-west-2", table)
    # It catches up by itself (no call needed): its eventually consistent reads converge.
    until(lambda: price(stack, "us-west-2", table, "p1", consistent=False) == 3, 5, "us-west-2 to catch up", 0.01)
    assert price(stack, "us-west-2", table, "p1") == 3
    put(stack, "us-west-2", table, "p3", 5)
    scans = [stack.client(r).scan(TableName=table, ConsistentRead=True)["Items"] for r in THREE]
    assert all(sorted(map(json.dumps, s)) == sorted(map(json.dumps, scans[0])) for s in scans)
    assert len(scans[0]) == 3 and stack.part.status()["strong"]["caught_up"] >= 1
    assert stack.replicas("us-east-1", table)["us-west-2"] == "ACTIVE"


def test_a_replica_without_quorum_refuses_writes(stack: Stack) -> None:
    table = strong_table(stack)
    for region in ("us-west-2", "eu-central-1"):
        pause_replication(stack, region, table)
    try:
        with pytest.raises(ClientError) as raised:
            put(stack, "us-east-1", table, "p1", 1)
        assert raised.value.response["Error"]["Code"] == "InternalServerError"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert price(stack, "us-east-1", table, "p1", consistent=False) is None  # nothing applied
    finally:
        for region in ("us-west-2", "eu-central-1"):
            resume_replication(stack, region, table)
    put(stack, "us-east-1", table, "p1", 1)
    assert [price(stack, r, table, "p1") for r in THREE] == [1, 1, 1]


def test_two_replicas_and_a_witness_keep_writing_when_one_replica_is_cut_off(stack: Stack) -> None:
    table = strong_table(stack, witness="eu-central-1")
    pause_replication(stack, "us-west-2", table)
    try:
        put(stack, "us-east-1", table, "p1", 7)  # quorum with the witness
        assert error_code(lambda: put(stack, "us-west-2", table, "p1", 8)) == "AccessDeniedException"
    finally:
        resume_replication(stack, "us-west-2", table)
    assert price(stack, "us-west-2", table, "p1") == 7


def test_an_eventual_global_table_is_not_synchronous(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    assert "MultiRegionConsistency" not in stack.client().describe_table(TableName=table)["Table"]
    put(stack, "us-east-1", table, f"k{uuid.uuid4().hex[:4]}", 1)
    pause_replication(stack, "us-west-2", table)  # MRSC rules do not apply: its writes are accepted
    try:
        put(stack, "us-west-2", table, "w", 2)
    finally:
        resume_replication(stack, "us-west-2", table)


def test_the_pause_replication_fault_cuts_an_mrsc_replica_off_until_rolled_back(stack: Stack, tmp_path: Path) -> None:
    table = strong_table(stack)
    west = stack.client("us-west-2")
    arn = west.describe_table(TableName=table)["Table"]["TableArn"]
    west.tag_resource(ResourceArn=arn, Tags=[{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}])
    with guard_.installed(Guard(policy())):
        with PauseReplication(Recorder(stack.endpoint_url), Journal("test-target", tmp_path / "journal"),
                              region="us-west-2", table_name=table):
            assert error_code(lambda: put(stack, "us-west-2", table, "p1", 1)) == "AccessDeniedException"
            put(stack, "eu-central-1", table, "p1", 2)
    assert [price(stack, r, table, "p1") for r in THREE] == [2, 2, 2]


def test_an_expired_pause_statement_cuts_nothing_off(stack: Stack) -> None:
    table = strong_table(stack)
    arn = stack.client("us-west-2").describe_table(TableName=table)["Table"]["TableArn"]
    ended = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stack.client("us-west-2").put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Ended", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["dynamodb:UpdateTable"],
         "Resource": arn, "Condition": {"DateLessThan": {"aws:CurrentTime": ended}, "ArnEquals": {"aws:PrincipalArn": ROLE}}}]}))
    put(stack, "us-west-2", table, "p1", 1)
    assert price(stack, "eu-central-1", table, "p1") == 1
