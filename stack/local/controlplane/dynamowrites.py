"""Which items a successful DynamoDB write changed, read from the call itself (botocore's input shapes)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stack.local.part import ApiRequest

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
# Operations after which a table's replicas or key schema may differ: its description is read again.
TABLE_CHANGES = frozenset({"CreateTable", "UpdateTable", "DeleteTable"})


@dataclass(frozen=True)
class Written:
    """One item a call wrote: its table, and its key or (PutItem) its whole item, in DynamoDB JSON."""

    table: str
    key: Mapping[str, Any] | None = None
    item: Mapping[str, Any] | None = None

    def key_in(self, key_names: tuple[str, ...]) -> dict[str, Any]:
        """The item's primary key, given the table's key attribute names."""
        source = self.key if self.key is not None else (self.item or {})
        return {name: source[name] for name in key_names if name in source}


def key_id(key: Mapping[str, Any]) -> str:
    """One string per primary key, the same however the key's attributes were ordered."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def written(request: ApiRequest) -> list[Written]:
    """The items a successful write call changed (nothing for another operation)."""
    params = request.params
    if request.operation == "PutItem":
        return [Written(str(params["TableName"]), item=params["Item"])]
    if request.operation in ("UpdateItem", "DeleteItem"):
        return [Written(str(params["TableName"]), key=params["Key"])]
    if request.operation == "BatchWriteItem":
        found = []
        for table, requests in (params.get("RequestItems") or {}).items():
            for entry in requests:
                if "PutRequest" in entry:
                    found.append(Written(str(table), item=entry["PutRequest"]["Item"]))
                elif "DeleteRequest" in entry:
                    found.append(Written(str(table), key=entry["DeleteRequest"]["Key"]))
        return found
    if request.operation == "TransactWriteItems":
        found = []
        for entry in params.get("TransactItems") or ():
            if "Put" in entry:
                found.append(Written(str(entry["Put"]["TableName"]), item=entry["Put"]["Item"]))
            for action in ("Update", "Delete"):  # a ConditionCheck writes nothing
                if action in entry:
                    found.append(Written(str(entry[action]["TableName"]), key=entry[action]["Key"]))
        return found
    return []
