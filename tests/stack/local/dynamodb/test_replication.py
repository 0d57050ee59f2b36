"""Writes to a global table reach every replica after the modelled delay, in order, last writer wins."""
from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

import pytest
from botocore.exceptions import ClientError

from base.deadline import until

from .conftest import SETTINGS, Stack

DEADLINE_S = 5.0  # how long past the modelled delay a replicated write may take on a busy machine


def modelled_delay_s(stack: Stack, source: str, target: str) -> float:
    env = stack.environment
    return env.rtt_ms(source, target) / 1000 + env.timescale.to_wall(SETTINGS.replication_processing_s)


def test_a_put_appears_in_the_other_region_after_the_modelled_delay(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    delay = modelled_delay_s(stack, "us-east-1", "us-west-2")
    assert stack.part.delay_s("us-east-1", "us-west-2") == delay
    began = time.monotonic()
    stack.client("us-east-1").put_item(TableName=table, Item={"id": {"S": "p1"}, "price": {"N": "10"}})
    until(lambda: stack.item("us-west-2", table, "p1"), delay + DEADLINE_S, "the item in us-west-2", 0.005)
    seen_after = time.monotonic() - began
    # The delivery is scheduled at the write's notification (after `began`) plus the delay: never sooner.
    assert seen_after >= delay - 0.005, f"replicated after {seen_after:.3f} s, before the modelled {delay:.3f} s"
    assert stack.item("us-west-2", table, "p1") == {"id": {"S": "p1"}, "price": {"N": "10"}}
    for region in ("us-east-1", "us-west-2"):
        assert stack.replicas(region, table) == {"us-east-1": "ACTIVE", "us-west-2": "ACTIVE"}


def test_updates_and_deletes_replicate_in_order(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    east, west = stack.client("us-east-1"), stack.client("us-west-2")
    east.put_item(TableName=table, Item={"id": {"S": "p2"}, "stock": {"N": "1"}})
    for stock in range(2, 6):
        east.update_item(TableName=table, Key={"id": {"S": "p2"}}, UpdateExpression="SET stock = :s",
                         ExpressionAttributeValues={":s": {"N": str(stock)}})
    until(lambda: (stack.item("us-west-2", table, "p2") or {}).get("stock") == {"N": "5"}, DEADLINE_S,
          "the last update in us-west-2", 0.01)
    stack.settled()  # every update delivered: the delete below is the newest write
    west.delete_item(TableName=table, Key={"id": {"S": "p2"}})  # a delete made in the other Region
    until(lambda: stack.item("us-east-1", table, "p2") is None, DEADLINE_S, "the delete in us-east-1", 0.01)
    east.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"id": {"S": f"b{n}"}}}} for n in range(3)]})
    until(lambda: all(stack.item("us-west-2", table, f"b{n}") for n in range(3)), DEADLINE_S,
          "the batch in us-west-2", 0.01)
    east.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"id": {"S": "t1"}}}},
        {"Delete": {"TableName": table, "Key": {"id": {"S": "b0"}}}}])
    until(lambda: stack.item("us-west-2", table, "t1") and stack.item("us-west-2", table, "b0") is None, DEADLINE_S,
          "the transaction in us-west-2", 0.01)
    stack.settled()
    assert stack.item("us-west-2", table, "p2") is None


def test_concurrent_writes_to_one_item_converge_on_the_last_writer(stack: Stack,
                                                                    global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2", "eu-central-1")
    regions = ("us-east-1", "us-west-2", "eu-central-1")
    start = threading.Barrier(len(regions))
    clients = {region: stack.client(region) for region in regions}  # made here: a boto3 session is not thread-safe

    def write(region: str) -> None:
        start.wait(5)
        clients[region].put_item(TableName=table, Item={"id": {"S": "c1"}, "price": {"S": region}})

    stack.settled()
    superseded = stack.part.status()["superseded"]
    threads = [threading.Thread(target=write, args=(region,)) for region in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    stack.settled()
    items = {region: stack.item(region, table, "c1") for region in regions}
    assert len({repr(item) for item in items.values()}) == 1, items  # the same item everywhere
    # The winner's Region holds a later write than either delivery it receives, and drops both.
    assert stack.part.status()["superseded"] - superseded >= 2


def test_replicated_writes_are_not_replicated_again(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2", "eu-central-1")
    stack.settled()
    before = stack.part.status()["replicated"]
    stack.client("us-west-2").put_item(TableName=table, Item={"id": {"S": "l1"}})
    until(lambda: stack.item("eu-central-1", table, "l1") and stack.item("us-east-1", table, "l1"), DEADLINE_S,
          "the item in the two other Regions", 0.01)
    stack.settled()  # an echo would be scheduled before the delivery that caused it was counted
    assert stack.part.status()["replicated"] - before == 2


def test_a_new_replica_gets_the_indexes_and_the_existing_items(stack: Stack) -> None:
    table = f"indexed-{uuid.uuid4().hex[:8]}"
    east = stack.client()
    east.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                            {"AttributeName": "category", "AttributeType": "S"}],
                      GlobalSecondaryIndexes=[{"IndexName": "by-category",
                                               "KeySchema": [{"AttributeName": "category", "KeyType": "HASH"}],
                                               "Projection": {"ProjectionType": "ALL"}}],
                      BillingMode="PAY_PER_REQUEST")
    east.put_item(TableName=table, Item={"id": {"S": "old"}, "category": {"S": "tea"}})
    east.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": "eu-central-1"}}])
    assert stack.item("eu-central-1", table, "old") == {"id": {"S": "old"}, "category": {"S": "tea"}}
    east.put_item(TableName=table, Item={"id": {"S": "new"}, "category": {"S": "tea"}})  # while CREATING

    def by_category() -> list[str]:
        found = stack.client("eu-central-1").query(TableName=table, IndexName="by-category",
                                                   KeyConditionExpression="category = :c",
                                                   ExpressionAttributeValues={":c": {"S": "tea"}})
        return sorted(item["id"]["S"] for item in found["Items"])

    until(lambda: by_category() == ["new", "old"], DEADLINE_S, "both items in the replica's index", 0.01)
    assert stack.part.health().healthy


def test_a_refused_write_is_not_replicated(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    east = stack.client()
    east.put_item(TableName=table, Item={"id": {"S": "r1"}, "price": {"N": "1"}})
    refused = [
        lambda: east.put_item(TableName=table, Item={"id": {"N": "1"}}),  # a key attribute of the wrong type
        lambda: east.put_item(TableName=table, Item={"id": {"S": "big"}, "blob": {"S": "x" * 410_000}}),  # > 400 KB
        lambda: east.put_item(TableName=table, Item={"id": {"S": "r1"}, "price": {"N": "2"}},
                              ConditionExpression="attribute_not_exists(id)"),
    ]
    codes = []
    for call in refused:
        with pytest.raises(ClientError) as raised:
            call()
        codes.append(raised.value.response["Error"]["Code"])
    assert codes == ["ValidationException", "ValidationException", "ConditionalCheckFailedException"]
    until(lambda: stack.item("us-west-2", table, "r1"), DEADLINE_S, "the accepted write in us-west-2", 0.01)
    stack.settled()
    assert stack.item("us-west-2", table, "r1") == {"id": {"S": "r1"}, "price": {"N": "1"}}
    assert stack.item("us-west-2", table, "big") is None
