"""A replica whose resource policy denies the replication role (FIS's pause statement) neither receives nor sends."""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Callable

from base.deadline import until
from faults import guard as guard_
from faults.dynamodb import PauseReplication
from faults.guard import Guard
from faults.journal import Journal
from tests.faults.conftest import STACK_TAG, Recorder, policy

from .conftest import Stack
from .test_bad_input import error_of

DEADLINE_S = 5.0
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"


def pause_statement(arn: str, until_utc: datetime.datetime) -> dict[str, Any]:
    """The statement FIS's aws:dynamodb:global-table-pause-replication appends (MREC tables)."""
    return {"Sid": "DoNotModifyFisDynamoDbPauseReplicationEXPtest", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                       "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:Scan",
                       "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive"],
            "Resource": arn,
            "Condition": {"DateLessThan": {"aws:CurrentTime": until_utc.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
                          "ArnEquals": {"aws:PrincipalArn": ROLE}}}


def other_statement(arn: str) -> dict[str, Any]:
    return {"Sid": "ReadersMayRead", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "dynamodb:GetItem", "Resource": arn}


def test_a_paused_replica_holds_writes_both_ways_and_gets_them_all_on_resume(
        stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2", "eu-central-1")
    west = stack.client("us-west-2")
    arn = west.describe_table(TableName=table)["Table"]["TableArn"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    west.put_resource_policy(ResourceArn=arn, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [other_statement(arn), pause_statement(arn, later)]}))
    stack.client("us-east-1").put_item(TableName=table, Item={"id": {"S": "to-west"}})
    west.put_item(TableName=table, Item={"id": {"S": "from-west"}})
    until(lambda: stack.part.status()["held"] >= 3, DEADLINE_S, "the deliveries to and from us-west-2 held", 0.01)
    until(lambda: stack.item("eu-central-1", table, "to-west"), DEADLINE_S, "the unpaused pair replicating", 0.01)
    assert stack.item("us-west-2", table, "to-west") is None
    assert stack.item("us-east-1", table, "from-west") is None and stack.item("eu-central-1", table, "from-west") is None
    west.put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17",
                                                                 "Statement": [other_statement(arn)]}))
    stack.settled()
    assert stack.item("us-west-2", table, "to-west") is not None
    assert stack.item("us-east-1", table, "from-west") is not None and stack.item("eu-central-1", table, "from-west")
    assert stack.part.status()["held"] == 0


def test_a_pause_statement_past_its_date_pauses_nothing(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    west = stack.client("us-west-2")
    arn = west.describe_table(TableName=table)["Table"]["TableArn"]
    ended = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    west.put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17",
                                                                 "Statement": [pause_statement(arn, ended)]}))
    stack.client("us-east-1").put_item(TableName=table, Item={"id": {"S": "p"}})
    until(lambda: stack.item("us-west-2", table, "p"), DEADLINE_S, "the write in us-west-2", 0.01)


def test_replication_latency_reaches_cloudwatch_in_the_source_region(stack: Stack,
                                                                     global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    began = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    stack.client("us-east-1").put_item(TableName=table, Item={"id": {"S": "m"}})
    until(lambda: stack.item("us-west-2", table, "m"), DEADLINE_S, "the write in us-west-2", 0.01)
    cloudwatch = stack.cloudwatch("us-east-1")
    query = dict(Namespace="AWS/DynamoDB", MetricName="ReplicationLatency", StartTime=began,
                 EndTime=began + datetime.timedelta(minutes=5), Period=60, Statistics=["Minimum", "SampleCount"],
                 Dimensions=[{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": "us-west-2"}])
    until(lambda: cloudwatch.get_metric_statistics(**query)["Datapoints"], DEADLINE_S, "the metric in us-east-1", 0.05)
    point = cloudwatch.get_metric_statistics(**query)["Datapoints"][0]
    modelled_ms = stack.part.delay_s("us-east-1", "us-west-2") * 1000
    assert point["SampleCount"] == 1 and point["Minimum"] >= modelled_ms - 5 and point["Unit"] == "Milliseconds"


def test_the_fault_pauses_replication_on_the_local_stack_until_rolled_back(
        stack: Stack, global_table: Callable[..., str], tmp_path: Path) -> None:
    table = global_table("us-west-2")
    west = stack.client("us-west-2")
    arn = west.describe_table(TableName=table)["Table"]["TableArn"]
    west.tag_resource(ResourceArn=arn, Tags=[{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}])
    clients = Recorder(stack.endpoint_url)
    with guard_.installed(Guard(policy())):
        with PauseReplication(clients, Journal("test-target", tmp_path / "journal"), region="us-west-2",
                              table_name=table):
            stack.client("us-east-1").put_item(TableName=table, Item={"id": {"S": "during"}})
            until(lambda: stack.part.status()["held"] >= 1, DEADLINE_S, "the delivery to us-west-2 held", 0.01)
            assert stack.item("us-west-2", table, "during") is None
    stack.settled()
    assert stack.item("us-west-2", table, "during") == {"id": {"S": "during"}}
    assert "PolicyNotFoundException" in repr(error_of(lambda: west.get_resource_policy(ResourceArn=arn)))
