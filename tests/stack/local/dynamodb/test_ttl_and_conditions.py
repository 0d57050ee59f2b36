"""TTL expiries replicate as deletes; a conditional write is checked against the local replica only."""
from __future__ import annotations

import datetime
import json
import time
from typing import Callable

from base.deadline import until

from .conftest import Stack
from .test_pause import pause_statement

DEADLINE_S = 5.0


def test_an_expired_item_is_deleted_and_the_delete_replicates(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    east, west = stack.client("us-east-1"), stack.client("us-west-2")
    east.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    past, future = str(int(time.time()) - 60), str(int(time.time()) + 3600)
    east.put_item(TableName=table, Item={"id": {"S": "old"}, "expires": {"N": past}})
    east.put_item(TableName=table, Item={"id": {"S": "fresh"}, "expires": {"N": future}})
    east.put_item(TableName=table, Item={"id": {"S": "text"}, "expires": {"S": past}})  # not a Number: never expires
    # us-west-2 has no TTL of its own here: the item leaves it only through the replicated delete.
    assert west.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    until(lambda: stack.item("us-west-2", table, "old") is None and stack.item("us-east-1", table, "old") is None
          and stack.part.status()["expired"] >= 1, DEADLINE_S, "the expired item gone from both Regions", 0.02)
    stack.settled()
    for region in ("us-east-1", "us-west-2"):
        assert stack.item(region, table, "fresh") is not None and stack.item(region, table, "text") is not None


def test_a_conditional_write_is_checked_against_the_local_replica_only(stack: Stack,
                                                                       global_table: Callable[..., str]) -> None:
    """The documented pitfall: both Regions accept "create if absent" for the same item; one write is lost."""
    table = global_table("us-west-2")
    west = stack.client("us-west-2")
    arn = west.describe_table(TableName=table)["Table"]["TableArn"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    # Replication paused while both write, so neither Region has seen the other's write, however slow the machine.
    west.put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17",
                                                                 "Statement": [pause_statement(arn, later)]}))
    for region in ("us-east-1", "us-west-2"):
        stack.client(region).put_item(TableName=table, Item={"id": {"S": "order-1"}, "owner": {"S": region}},
                                      ConditionExpression="attribute_not_exists(id)")
    west.delete_resource_policy(ResourceArn=arn)
    stack.settled()
    items = [stack.item(region, table, "order-1") for region in ("us-east-1", "us-west-2")]
    assert items[0] == items[1] == {"id": {"S": "order-1"}, "owner": {"S": "us-west-2"}}  # the later write won
