"""AWS's errors for bad DynamoDB input on a global table, and nothing half-applied or replicated."""
from __future__ import annotations

from typing import Callable

import pytest
from botocore.exceptions import ClientError

from .conftest import Stack

ITEM_LIMIT_BYTES = 400 * 1024  # AWS: "The maximum item size in DynamoDB is 400 KB"


def error_of(call: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_bad_items_get_aws_errors(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    east = stack.client()
    assert error_of(lambda: east.put_item(TableName=table, Item={"id": {"S": "big"}, "blob": {"S": "x" * ITEM_LIMIT_BYTES}})) == (
        "ValidationException", "Item size has exceeded the maximum allowed size")
    assert error_of(lambda: east.put_item(TableName=table, Item={"id": {"N": "1"}})) == (
        "ValidationException", "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N")
    code, message = error_of(lambda: stack.client("ap-northeast-1").get_item(TableName=table, Key={"id": {"S": "a"}}))
    assert code == "ResourceNotFoundException" and message.startswith("Requested resource not found")
    code, _ = error_of(lambda: stack.client("eu-central-1").put_item(TableName=table, Item={"id": {"S": "a"}}))
    assert code == "ResourceNotFoundException"  # a Region without a replica


def test_a_batch_with_one_bad_item_writes_and_replicates_nothing(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2")
    east = stack.client()
    east.put_item(TableName=table, Item={"id": {"S": "kept"}, "v": {"N": "1"}})
    stack.settled()
    before = stack.part.status()["replicated"]
    batch = [{"PutRequest": {"Item": {"id": {"S": "kept"}, "v": {"N": "2"}}}},
             {"PutRequest": {"Item": {"id": {"S": "new"}}}},
             {"DeleteRequest": {"Key": {"id": {"S": "gone"}}}},
             {"PutRequest": {"Item": {"id": {"S": "huge"}, "blob": {"S": "x" * ITEM_LIMIT_BYTES}}}}]
    code, _ = error_of(lambda: east.batch_write_item(RequestItems={table: batch}))
    assert code == "ValidationException"
    stack.settled()
    for region in ("us-east-1", "us-west-2"):
        assert stack.item(region, table, "kept") == {"id": {"S": "kept"}, "v": {"N": "1"}}
        assert stack.item(region, table, "new") is None
        assert stack.item(region, table, "huge") is None
    assert stack.part.status()["replicated"] == before
