"""Which items a write call changed, from botocore's input shapes."""
from __future__ import annotations

from stack.local.controlplane.dynamowrites import Written, key_id, written
from stack.local.part import ApiRequest


def call(operation: str, **params: object) -> list[Written]:
    return written(ApiRequest("dynamodb", operation, "us-east-1", params))


def test_every_write_operation_names_its_items() -> None:
    item = {"id": {"S": "a"}, "price": {"N": "1"}}
    key = {"id": {"S": "b"}}
    assert call("PutItem", TableName="t", Item=item) == [Written("t", item=item)]
    assert call("UpdateItem", TableName="t", Key=key) == [Written("t", key=key)]
    assert call("DeleteItem", TableName="t", Key=key) == [Written("t", key=key)]
    assert call("BatchWriteItem", RequestItems={"t": [{"PutRequest": {"Item": item}}],
                                                "u": [{"DeleteRequest": {"Key": key}}]}) == [
        Written("t", item=item), Written("u", key=key)]
    assert call("TransactWriteItems", TransactItems=[
        {"Put": {"TableName": "t", "Item": item}}, {"ConditionCheck": {"TableName": "t", "Key": key}},
        {"Update": {"TableName": "u", "Key": key}}, {"Delete": {"TableName": "v", "Key": key}}]) == [
        Written("t", item=item), Written("u", key=key), Written("v", key=key)]
    assert call("GetItem", TableName="t", Key=key) == []


def test_a_key_is_the_same_whatever_the_attribute_order() -> None:
    item = {"sk": {"N": "2"}, "price": {"N": "1"}, "pk": {"S": "a"}}
    key = Written("t", item=item).key_in(("pk", "sk"))
    assert key == {"pk": {"S": "a"}, "sk": {"N": "2"}}
    assert key_id(key) == key_id({"sk": {"N": "2"}, "pk": {"S": "a"}})
