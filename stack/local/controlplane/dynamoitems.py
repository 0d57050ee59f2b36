"""The items of DynamoDB global tables: every write to one, and its stamp, under the table's lock.

Last writer wins needs the comparison and the write to be one step. Here a user's write to a table
(PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) runs under the lock of the
table in its Region: moto applies it, the control plane stamps it (``Stamp``: the time, then the
Region) and captures the image of every item it wrote, and hands them to the listeners (the DynamoDB
part) before the lock is released. A replicated write (``apply``) takes the same lock, and is applied
only when its stamp is later than the one the replica holds for the item. A user's write and a
delivery to the same item so never interleave: whichever comes second sees the first's stamp.

A BatchWriteItem moto refuses half-way (an item over 400 KB, a key of the wrong type) is undone
before the lock is released: AWS validates the whole batch first, and nothing is half-applied.

The TTL sweep (``expire``) deletes expired items under the same lock; on a global table the delete
is a local write like a user's, and replicates as a delete.

``replication_denied`` reads a replica's resource-based policy: the statement FIS's
aws:dynamodb:global-table-pause-replication appends (Deny to the replication service-linked role)
pauses replication to and from it.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from stack.local.controlplane import backends
from stack.local.controlplane.dynamodb import GlobalTables
from stack.local.controlplane.dynamowrites import WRITES, Written, key_id, written
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import ItemWrite, Stamp

REPLICATION_SERVICE = "replication.dynamodb.amazonaws.com"
REPLICATION_ROLE = ("arn:aws:iam::{account}:role/aws-service-role/replication.dynamodb.amazonaws.com/"
                    "AWSServiceRoleForDynamoDBReplication")
# The actions the replication role needs on a replica: denying any of them to it stops replication.
REPLICATION_ACTIONS = frozenset({
    "*", "dynamodb:*", "dynamodb:ReadDataForReplication", "dynamodb:WriteDataForReplication", "dynamodb:GetItem",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"})


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _aws_time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def denies_replication(statement: Mapping[str, Any], account: str, now: datetime.datetime) -> bool:
    """Whether one policy statement denies the replication service-linked role now.

    The principal is the role itself (by ARN or as the service principal), or ``*`` narrowed by a
    condition naming it (aws:PrincipalArn, aws:PrincipalServiceName), as FIS writes it; a
    DateLessThan on aws:CurrentTime ends the statement's effect at that time. A statement with a
    condition this does not read is taken not to apply."""
    if statement.get("Effect") != "Deny":
        return False
    if not REPLICATION_ACTIONS.intersection(_as_list(statement.get("Action", []))):
        return False
    role = REPLICATION_ROLE.format(account=account)
    principal = statement.get("Principal")
    named = {str(p) for key in ("AWS", "Service") for p in _as_list((principal or {}).get(key, []))} \
        if isinstance(principal, Mapping) else {str(principal)}
    everyone = "*" in named
    if not everyone and not named & {role, REPLICATION_SERVICE}:
        return False
    matched = not everyone
    for operator, tests in (statement.get("Condition") or {}).items():
        for key, value in (tests or {}).items():
            values = [str(v) for v in _as_list(value)]
            if operator == "DateLessThan" and key == "aws:CurrentTime":
                ends = [t for t in (_aws_time(v) for v in values) if t is not None]
                if not ends or all(now >= end for end in ends):
                    return False
            elif operator in ("ArnEquals", "ArnLike", "StringEquals") and key == "aws:PrincipalArn":
                if role not in values:
                    return False
                matched = True
            elif operator == "StringEquals" and key == "aws:PrincipalServiceName":
                if REPLICATION_SERVICE not in values:
                    return False
                matched = True
            else:
                return False
    return matched


class GlobalItems:
    """Per-table locks, the stamp each replica holds for each item, and the listeners of local writes."""

    def __init__(self, tables: GlobalTables, clock: Callable[[], float] = time.monotonic) -> None:
        self._tables = tables
        self._clock = clock
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_lock = threading.Lock()
        # (table, Region) -> (the moto table's creation time, key id -> stamp held): a table deleted and
        # created again starts with no stamps.
        self._stamps: dict[tuple[str, str], tuple[Any, dict[str, Stamp]]] = {}
        self._listeners: list[Callable[[ItemWrite], None]] = []

    def lock(self, table: str, region: str) -> threading.RLock:
        with self._locks_lock:
            found = self._locks.get((table, region))
            if found is None:
                found = self._locks[(table, region)] = threading.RLock()
            return found

    def listen(self, listener: Callable[[ItemWrite], None]) -> None:
        self._listeners = [*self._listeners, listener]  # a new list: a write iterating the old one is not disturbed

    def unlisten(self, listener: Callable[[ItemWrite], None]) -> None:
        self._listeners = [found for found in self._listeners if found != listener]

    # --- users' writes

    def guarded(self, request: ApiRequest, call: Callable[[], ApiResponse]) -> ApiResponse:
        """``call()`` (moto answering a write) under the written tables' locks; the writes stamped and published."""
        writes = written(request)
        with contextlib.ExitStack() as held:
            for table in sorted({w.table for w in writes}):  # one order: two batches never deadlock
                held.enter_context(self.lock(table, request.region))
            before = self._images(request.region, writes) if request.operation == "BatchWriteItem" else {}
            response = call()
            if response.status >= 300:
                self._restore(request.region, before)  # moto may have stored the items before the bad one
                return response
            stamp = Stamp(self._clock(), request.region)
            for write in writes:
                self._stamp_local(write, stamp)
        return response

    def _stamp_local(self, write: Written, stamp: Stamp, expired: bool = False) -> None:
        group = self._tables.group(write.table, stamp.region)
        table = backends.dynamodb(stamp.region).tables.get(write.table)
        if group is None or table is None or self._tables.strong.is_strong(write.table, group):
            return  # a Regional table, or an MRSC one (replicated before it was acknowledged): nothing to replicate
        key = write.key_in(_key_names(table))
        self._held(write.table, stamp.region, table)[key_id(key)] = stamp
        found = _get(table, key)
        local = ItemWrite(write.table, stamp.region, key, found.to_json()["Attributes"] if found is not None else None,
                          stamp, tuple(sorted(r for r in group if r != stamp.region)), expired)
        for listener in self._listeners:
            listener(local)

    @staticmethod
    def _images(region: str, writes: list[Written]) -> dict[tuple[str, str], tuple[Any, dict[str, Any], Any]]:
        images = {}
        for write in writes:
            table = backends.dynamodb(region).tables.get(write.table)
            if table is None:
                continue
            key = write.key_in(_key_names(table))
            with contextlib.suppress(Exception):  # a key moto cannot read was not stored either
                images[(write.table, key_id(key))] = (table, key, _get(table, key))
        return images

    @staticmethod
    def _restore(region: str, images: Mapping[tuple[str, str], tuple[Any, dict[str, Any], Any]]) -> None:
        for table, key, item in images.values():
            hash_key, range_key = _key_values(table, key)
            if item is None:
                table.delete_item(hash_key, range_key)
            else:
                table.put_item(item.to_json()["Attributes"])

    # --- replicated writes

    def apply(self, write: ItemWrite) -> bool:
        with self.lock(write.table, write.region):
            table = backends.dynamodb(write.region).tables.get(write.table)
            if table is None:
                return False  # the replica was deleted after the write was made: nothing is owed to it
            stamps = self._held(write.table, write.region, table)
            index = key_id(write.key)
            held = stamps.get(index)
            if held is not None and held >= write.stamp:
                return False  # last writer wins: the replica holds a later write
            if write.item is None:
                table.delete_item(*_key_values(table, write.key))
            else:
                table.put_item(dict(write.item))
            stamps[index] = write.stamp
            return True

    def _held(self, name: str, region: str, table: Any) -> dict[str, Stamp]:
        """The stamps the replica ``table`` holds (called under its lock)."""
        found = self._stamps.get((name, region))
        if found is None or found[0] != table.created_at:
            found = self._stamps[(name, region)] = (table.created_at, {})
        return found[1]

    # --- resource policies, TTL

    def replication_denied(self, table: str, region: str) -> bool:
        backend = backends.dynamodb(region)
        found = backend.tables.get(table)
        policy = backend.resource_policies.get(found.table_arn) if found is not None else None
        if policy is None:
            return False
        try:
            statements = _as_list(json.loads(policy.policy_doc).get("Statement", []))
        except (ValueError, AttributeError):
            return False
        now = datetime.datetime.now(datetime.timezone.utc)
        return any(isinstance(s, Mapping) and denies_replication(s, backends.ACCOUNT_ID, now) for s in statements)

    def expire(self, now_epoch_s: float) -> int:
        expired = 0
        for region in sorted(self._tables.regions):
            backend = backends.dynamodb(region)
            for name, table in list(backend.tables.items()):
                ttl = getattr(table, "ttl", {}) or {}
                if ttl.get("TimeToLiveStatus") != "ENABLED":
                    continue
                expired += self._expire_table(name, table, region, str(ttl.get("AttributeName", "")), now_epoch_s)
        return expired

    def _expire_table(self, name: str, table: Any, region: str, attribute: str, now_epoch_s: float) -> int:
        with self.lock(name, region):
            due = []
            for item in table.all_items():
                value = item.attrs.get(attribute)
                if value is not None and value.type == "N":  # TTL ignores an attribute that is not a Number
                    with contextlib.suppress(ValueError):
                        if float(value.value) < now_epoch_s:
                            due.append(item)
            for item in due:
                key = {k: v.to_json() for k, v in item.attrs.items() if k in _key_names(table)}
                table.delete_item(*_key_values(table, key))
                self._stamp_local(Written(name, key=key), Stamp(self._clock(), region), expired=True)
            return len(due)


def _key_names(table: Any) -> tuple[str, ...]:
    return tuple(n for n in (table.hash_key_attr, table.range_key_attr) if n)


def _key_values(table: Any, key: Mapping[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    range_name = table.range_key_attr
    return (DynamoType(key[table.hash_key_attr]),
            DynamoType(key[range_name]) if range_name and range_name in key else None)


def _get(table: Any, key: Mapping[str, Any]) -> Any:
    return table.get_item(*_key_values(table, key))


def guarded(request: ApiRequest, plane: Any, call: Callable[[], ApiResponse]) -> ApiResponse:
    items: GlobalItems = plane.global_items
    return items.guarded(request, call)


# DynamoDB operations the control plane runs under the written tables' locks.
AROUND: dict[str, Callable[[ApiRequest, Any, Callable[[], ApiResponse]], ApiResponse]] = {
    operation: guarded for operation in WRITES}
