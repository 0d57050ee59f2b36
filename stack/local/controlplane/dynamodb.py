"""DynamoDB global tables, version 2019.11.21: the replica bookkeeping moto does not keep.

moto stores one table per Region and ignores ``UpdateTable``'s ``ReplicaUpdates``. Here the control
plane answers an ``UpdateTable`` that carries them: it checks them all first (nothing is
half-applied), creates the replica table in the other Region with the source's key schema,
attributes, indexes and items, or deletes it. ``DescribeTable`` in any Region of the group then
shows every replica with its ``ReplicaStatus``: CREATING for the environment's
``dynamodb.replica_creation_s`` (scaled), then ACTIVE. While a replica is being created the table
is UPDATING and another ``UpdateTable`` is refused with ResourceInUseException.

Carrying the items between the replicas is the DynamoDB part's job (stack.local.dynamodb), which
reads the replicas through ``DescribeTable`` like any user.
"""
from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from base.timescale import TimeScale
from stack.local.awserror import AwsError
from stack.local.controlplane import backends, mrsc
from stack.local.part import ApiRequest, ApiResponse

LOCAL_REGION_REFUSED = ("Cannot add, delete, or update the local region through ReplicaUpdates. "
                        "Use CreateTable, DeleteTable, or UpdateTable as required.")
JSON_10 = {"Content-Type": "application/x-amz-json-1.0"}
MRSC_PARAMS = ("MultiRegionConsistency", "GlobalTableWitnessUpdates")


@dataclass(frozen=True)
class Replica:
    region: str
    active_at: float  # monotonic time it turns ACTIVE (0: it was the table the group started from)

    def status(self, now: float) -> str:
        return "ACTIVE" if now >= self.active_at else "CREATING"


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _not_found(name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found")


class GlobalTables:
    """Which tables are replicated where, and since when (thread-safe: the endpoint is threaded)."""

    def __init__(self, regions: Collection[str], scale: TimeScale, creation_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.regions = frozenset(regions)  # the Regions the environment has: the only ones "enabled"
        self.scale = scale
        self.creation_s = creation_s  # AWS seconds
        self.clock = clock  # a test may stop it to look at a replica while it is CREATING
        self._groups: dict[str, dict[str, Replica]] = {}  # table name -> Region -> replica
        self.strong = mrsc.StrongTables(self.regions)  # which groups are MRSC (multi-Region strong consistency)
        self._lock = threading.Lock()

    def group(self, name: str, region: str) -> dict[str, Replica] | None:
        """The replicas of table ``name`` when ``region`` holds one of them (and moto still has it there)."""
        if name not in backends.dynamodb(region).tables:
            return None  # deleted with DeleteTable, or moto was reset
        with self._lock:
            found = self._groups.get(name)
            return dict(found) if found is not None and region in found else None

    def _creating(self, name: str, region: str) -> bool:
        group = self.group(name, region) or {}
        now = self.clock()
        return any(replica.status(now) == "CREATING" for replica in group.values())

    # --- UpdateTable

    def update_table(self, request: ApiRequest) -> ApiResponse | None:
        """The answer to an UpdateTable with ReplicaUpdates; None passes any other UpdateTable to moto.

        Raises AwsError as AWS would, before anything changes."""
        name = str(request.params.get("TableName", ""))
        if self._creating(name, request.region):
            raise AwsError("ResourceInUseException",
                           f"Attempt to change a resource which is still in use: Table is being updated: {name}")
        updates = request.params.get("ReplicaUpdates")
        if updates is None and not set(request.params) & set(MRSC_PARAMS):
            return None
        source = backends.dynamodb(request.region).tables.get(name)
        if source is None:
            raise _not_found(name)
        others = sorted(k for k in request.params if k not in ("TableName", "ReplicaUpdates", *MRSC_PARAMS))
        if others:
            raise _validation(f"ReplicaUpdates cannot be combined with other updates in one UpdateTable "
                              f"(got {', '.join(others)}); you can only perform one of them at once")
        creates, deletes = self._check(name, request.region, updates)
        commit = self.strong.check(name, request.region, request.params, source, self.group(name, request.region),
                                   creates, deletes)
        with self._lock:
            group = self._groups.setdefault(name, {request.region: Replica(request.region, 0.0)})
            ready = self.clock() + self.scale.to_wall(self.creation_s)
            for region in creates:
                self._create_replica(source, region)
                group[region] = Replica(region, ready)
            for region in deletes:
                backends.dynamodb(region).tables.pop(name, None)
                group.pop(region, None)
            commit(len(group))
            if len(group) == 1:  # no other replica left: a Regional table again
                del self._groups[name]
        return self.respond(request, {"TableDescription": source.describe(base_key="TableDescription")["TableDescription"]})

    def _check(self, name: str, region: str, updates: Any) -> tuple[list[str], list[str]]:
        """The Regions to create and delete replicas in; raises AwsError for any update AWS refuses."""
        if not isinstance(updates, list) or not updates:
            raise _validation("ReplicaUpdates must be a non-empty list of replica updates")
        group = self.group(name, region) or {region: Replica(region, 0.0)}
        creates: list[str] = []
        deletes: list[str] = []
        for index, update in enumerate(updates):
            actions = [a for a in ("Create", "Update", "Delete", "Disassociate") if isinstance(update, dict) and a in update]
            if len(actions) != 1:
                raise _validation(f"ReplicaUpdates[{index}] must hold exactly one of Create, Update, Delete, "
                                  f"Disassociate; got {update!r}")
            action = actions[0]
            if action in ("Update", "Disassociate"):
                raise _validation(f"ReplicaUpdates[{index}]: {action} is not supported by the local stack; "
                                  f"it supports Create and Delete")
            target = str((update[action] or {}).get("RegionName", ""))
            if target == region:
                raise _validation(LOCAL_REGION_REFUSED)
            if target not in self.regions:
                raise _validation(f"ReplicaUpdates[{index}].{action}.RegionName: {target!r} is not a Region enabled "
                                  f"for this account; enabled: {', '.join(sorted(self.regions))}")
            if target in creates or target in deletes:
                raise _validation(f"ReplicaUpdates names the Region {target} twice")
            if action == "Create":
                if target in group or name in backends.dynamodb(target).tables:
                    raise _validation(f"Failed to create a replica of table {name!r} in {target}: "
                                      f"a table with that name already exists there")
                creates.append(target)
            else:
                if target not in group:
                    raise _validation(f"Failed to delete the replica of table {name!r} in {target}: "
                                      f"the table has no replica there")
                deletes.append(target)
        return creates, deletes

    @staticmethod
    def _create_replica(source: Any, region: str) -> None:
        """The replica table: the source's keys, attributes, capacity, indexes and streams, and its items."""
        described = copy.deepcopy(source.describe(base_key="Table")["Table"])  # moto changes what it is given
        replica = backends.dynamodb(region).create_table(
            source.name, schema=copy.deepcopy(source.schema), throughput=copy.deepcopy(source.throughput),
            attr=copy.deepcopy(source.attr), global_indexes=described.get("GlobalSecondaryIndexes"),
            indexes=described.get("LocalSecondaryIndexes"), streams=copy.deepcopy(source.stream_specification),
            billing_mode=source.billing_mode,
            sse_specification=None, tags=[], deletion_protection_enabled=False, warm_throughput=None)
        for item in source.all_items():
            replica.put_item(item.to_json()["Attributes"])

    # --- DescribeTable

    def shown(self, request: ApiRequest, response: ApiResponse) -> ApiResponse:
        """moto's DescribeTable (or UpdateTable) answer with the global table's replicas and status."""
        name = str(request.params.get("TableName", ""))
        group = self.group(name, request.region)
        if group is None or response.status >= 300:
            return response
        body = json.loads(response.body)
        key = "Table" if "Table" in body else "TableDescription"
        now = self.clock()
        table = body.get(key, {})
        table["GlobalTableVersion"] = "2019.11.21"
        table["Replicas"] = [{"RegionName": region, "ReplicaStatus": replica.status(now)}
                             for region, replica in sorted(group.items())]
        if self.strong.is_strong(name, group):
            mrsc.describe(table, self.strong.members(name, group))
        if group[request.region].status(now) == "CREATING":
            table["TableStatus"] = "CREATING"  # the new replica itself is not ready yet
        elif any(replica.status(now) == "CREATING" for replica in group.values()):
            table["TableStatus"] = "UPDATING"  # UpdateTable is asynchronous: UPDATING until it is done
        return self.respond(request, body)

    @staticmethod
    def respond(request: ApiRequest, body: Mapping[str, Any]) -> ApiResponse:
        return ApiResponse(200, json.dumps(body, default=str).encode(), JSON_10)


def update_table(request: ApiRequest, plane: Any) -> ApiResponse | None:
    tables: GlobalTables = plane.global_tables
    response = tables.update_table(request)
    return tables.shown(request, response) if response is not None else None


def describe_table(request: ApiRequest, response: ApiResponse, plane: Any) -> ApiResponse:
    tables: GlobalTables = plane.global_tables
    return tables.shown(request, response)


# Operations the control plane answers itself (None: moto answers), and answers it amends.
ANSWER: dict[str, Callable[[ApiRequest, Any], ApiResponse | None]] = {"UpdateTable": update_table}
SHOWN: dict[str, Callable[[ApiRequest, ApiResponse, Any], ApiResponse]] = {"DescribeTable": describe_table}
