"""Last writer wins, even when a delivery and a user's write to the same item race in one Region."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from base.deadline import until

from .conftest import Stack

DEADLINE_S = 5.0


def test_a_delivery_racing_a_newer_local_write_never_overwrites_it(stack: Stack, global_table: Callable[..., str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    table = global_table("us-west-2")
    stack.settled()
    key = {"id": {"S": "race"}}

    def handled() -> int:
        status = stack.part.status()
        return int(status["replicated"]) + int(status["superseded"])

    before = handled()
    notify = stack.plane._notify

    def late(change: Any) -> Any:
        # The newer write in us-west-2 is stored; its notification waits until the older write from
        # us-east-1 has been delivered there: the interleaving that used to lose the newer write.
        if change.request.params.get("Item", {}).get("price") == {"S": "newer"}:
            until(lambda: handled() > before, DEADLINE_S, "the older write's delivery to us-west-2", 0.005)
        return notify(change)

    monkeypatch.setattr(stack.plane, "_notify", late)
    stack.client("us-east-1").put_item(TableName=table, Item={**key, "price": {"S": "older"}})
    stack.client("us-west-2").put_item(TableName=table, Item={**key, "price": {"S": "newer"}})
    stack.settled()
    for region in ("us-east-1", "us-west-2"):
        until(lambda r=region: stack.item(r, table, "race") == {**key, "price": {"S": "newer"}}, DEADLINE_S,
              f"the newer write in {region}", 0.01)


def test_writes_in_two_regions_converge_on_the_newest_everywhere(stack: Stack, global_table: Callable[..., str]) -> None:
    table = global_table("us-west-2", "eu-central-1")
    stack.settled()
    order = ("eu-central-1", "us-east-1", "us-west-2", "us-east-1")  # each write newer than the last
    for n, region in enumerate(order):  # made well within the replication delay of each other
        stack.client(region).put_item(TableName=table, Item={"id": {"S": "c2"}, "n": {"N": str(n)}})
    stack.settled()
    for region in ("us-east-1", "us-west-2", "eu-central-1"):
        assert stack.item(region, table, "c2") == {"id": {"S": "c2"}, "n": {"N": str(len(order) - 1)}}
