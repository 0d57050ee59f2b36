"""Multi-Region strong consistency (MRSC) for global tables: the control plane's side.

``UpdateTable`` with ``MultiRegionConsistency=STRONG`` makes an empty table an MRSC global table of
exactly three Regions: two replica Creates, or one replica Create and a witness
(``GlobalTableWitnessUpdates``). ``DescribeTable`` then shows ``MultiRegionConsistency`` and
``GlobalTableWitnesses``, and a replica whose resource policy denies the replication role as
REPLICATION_NOT_AUTHORIZED. The table's writes and strongly consistent reads go through the DynamoDB
part's ``StrongConsistency`` (stack.local.dynamodb.strong), which decides when they may proceed; this
module gives it the members and applies the items in moto. TTL and the transaction APIs are refused on
an MRSC table, as AWS documents.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import MrscMember, StrongConsistency

# AWS's MRSC Regions: the ten of the US, EU and AP Region sets, and since 2026-09-24 five more, in any
# three-Region combination (the announcement "...now supports additional AWS Regions and cross-continent
# configurations").
SUPPORTED = frozenset({"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
                       "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "eu-north-1",
                       "eu-south-2", "ap-south-1", "ap-southeast-1"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
READS = frozenset({"GetItem", "Query", "Scan"})
REFUSED = frozenset({"TransactWriteItems", "TransactGetItems", "UpdateTimeToLive"})


# FIS's aws:dynamodb:global-table-pause-replication on an MRSC table appends a Deny of this action to the
# replication service-linked role (not the item actions it denies on an MREC table).
MRSC_PAUSE_ACTION = "dynamodb:UpdateTable"
Denies = Callable[[Mapping[str, Any], str, dt.datetime], bool]


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


class StrongTables:
    """Which global tables are MRSC, and their witness Region (None: three replicas)."""

    def __init__(self, enabled: frozenset[str]) -> None:
        self.enabled = enabled  # the environment's Regions: a witness elsewhere has no modelled RTT
        # Whether a replica's resource policy cuts it off (the control plane sets ``paused_by``'s reader).
        self.denied: Callable[[str, str], bool] = lambda _table, _region: False
        self._witness: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def witness(self, name: str) -> str | None:
        with self._lock:
            return self._witness.get(name)

    def is_strong(self, name: str, group: Mapping[str, Any] | None) -> bool:
        with self._lock:
            return group is not None and name in self._witness

    def check(self, name: str, region: str, params: Mapping[str, Any], source: Any, group: Mapping[str, Any] | None,
              creates: Sequence[str], deletes: Sequence[str]) -> Callable[[int], None]:
        """Refuse what AWS refuses; the commit to run with the replica count left once moto's tables changed."""
        mode = params.get("MultiRegionConsistency")
        witness_updates = params.get("GlobalTableWitnessUpdates")
        if mode not in (None, "EVENTUAL", "STRONG"):
            raise _validation(f"MultiRegionConsistency: {mode!r} is not one of EVENTUAL, STRONG")
        strong = self.is_strong(name, group)
        if mode is not None and (group is not None or not creates):
            raise _validation("MultiRegionConsistency can only be given when a global table is created, with "
                              "Create actions in ReplicaUpdates; a global table's consistency mode cannot be changed")
        witness_create, witness_delete = self._witness_update(witness_updates, region)
        if strong:
            return self._check_existing(name, creates, deletes, witness_create, witness_delete)
        if mode != "STRONG":
            if witness_updates is not None:
                raise _validation("GlobalTableWitnessUpdates is only valid for an MRSC global table "
                                  "(MultiRegionConsistency=STRONG)")
            return lambda _left: None
        if witness_delete is not None or deletes:
            raise _validation("Creating an MRSC global table takes Create actions only")
        regions = [region, *creates, *([witness_create] if witness_create else [])]
        if len(creates) + (1 if witness_create else 0) != 2:
            raise _validation(f"An MRSC global table must be deployed in exactly three Regions: three replicas, or "
                              f"two replicas and one witness; this request gives {', '.join(regions)}")
        if len(set(regions)) != 3:
            raise _validation(f"The witness must be in a different Region than the replicas; got {', '.join(regions)}")
        if witness_create is not None and witness_create not in self.enabled:
            raise _validation(f"GlobalTableWitnessUpdates[0].Create.RegionName: {witness_create!r} is not a Region "
                              f"enabled for this account; enabled: {', '.join(sorted(self.enabled))}")
        unsupported = sorted(set(regions) - SUPPORTED)
        if unsupported:
            raise _validation(f"MRSC global tables are not available in {', '.join(unsupported)}; "
                              f"supported Regions: {', '.join(sorted(SUPPORTED))}")
        if source.indexes:
            raise _validation("Local secondary indexes (LSIs) are not supported for MRSC global tables")
        if source.ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            raise _validation("Time to Live (TTL) is not supported for MRSC global tables; disable it first")
        if source.all_items():
            raise _validation(f"Table {name} must be empty to become an MRSC global table")

        def commit(_left: int) -> None:
            with self._lock:
                self._witness[name] = witness_create

        return commit

    def _check_existing(self, name: str, creates: Sequence[str], deletes: Sequence[str],
                        witness_create: str | None, witness_delete: str | None) -> Callable[[int], None]:
        if creates or witness_create:
            raise _validation(f"{name} is an MRSC global table: replicas or a witness cannot be added to it")
        witness = self.witness(name)
        if witness_delete is not None and witness_delete != witness:
            raise _validation(f"{name} has no witness in {witness_delete} (its witness: {witness or 'none'})")
        removed = len(deletes) + (1 if witness_delete else 0)
        if removed != 2:
            raise _validation("A single replica or the witness alone cannot be deleted from an MRSC global table: "
                              "delete two replicas, or one replica and the witness")

        def commit(left: int) -> None:
            with self._lock:
                if left <= 1:
                    self._witness.pop(name, None)  # a single-Region table again

        return commit

    @staticmethod
    def _witness_update(updates: Any, region: str) -> tuple[str | None, str | None]:
        if updates is None:
            return None, None
        if not isinstance(updates, list) or len(updates) != 1 or not isinstance(updates[0], dict):
            raise _validation("GlobalTableWitnessUpdates must hold exactly one Create or Delete "
                              "(one witness per UpdateTable)")
        update = updates[0]
        actions = [a for a in ("Create", "Delete") if a in update]
        if len(actions) != 1:
            raise _validation(f"GlobalTableWitnessUpdates[0] must hold exactly one of Create, Delete; got {update!r}")
        target = str((update[actions[0]] or {}).get("RegionName", ""))
        if actions[0] == "Create" and target == region:
            raise _validation("The witness must be in a different Region than the replicas")
        return (target, None) if actions[0] == "Create" else (None, target)

    # --- what the part needs, from moto

    def members(self, name: str, group: Mapping[str, Any]) -> list[MrscMember]:
        found = [MrscMember(region, False, not self.denied(name, region)) for region in sorted(group)]
        witness = self.witness(name)
        return found + ([MrscMember(witness, True, True)] if witness else [])  # a witness has no policy to deny


def paused_by(denies: Denies, account: str) -> Callable[[str, str], bool]:
    """Whether an MRSC replica's resource policy cuts it off: a Deny to the replication role, either FIS's MRSC
    statement (``dynamodb:UpdateTable``) or one of the replication actions an MREC pause denies.

    ``denies(statement, account, now)`` reads a statement's principal, actions and conditions
    (stack.local.controlplane.dynamoitems.denies_replication)."""
    def denied(name: str, region: str) -> bool:
        backend = backends.dynamodb(region)
        table = backend.tables.get(name)
        policy = backend.resource_policies.get(table.table_arn) if table is not None else None
        if policy is None:
            return False
        try:
            statements = json.loads(policy.policy_doc).get("Statement") or []
        except (ValueError, AttributeError):
            return False
        now = dt.datetime.now(dt.timezone.utc)
        for statement in statements if isinstance(statements, list) else [statements]:
            if not isinstance(statement, dict):
                continue
            if MRSC_PAUSE_ACTION in _listed(statement.get("Action", [])):
                statement = {**statement, "Action": ["dynamodb:WriteDataForReplication"]}  # as the role's own
            if denies(statement, account, now):
                return True
        return False

    return denied


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def describe(table: dict[str, Any], members: Sequence[MrscMember]) -> None:
    """DescribeTable's MRSC fields, laid over the global table's description."""
    table["MultiRegionConsistency"] = "STRONG"
    reachable = {m.region: m.reachable for m in members}
    for replica in table.get("Replicas") or ():
        if replica.get("ReplicaStatus") == "ACTIVE" and not reachable.get(replica["RegionName"], True):
            replica["ReplicaStatus"] = "REPLICATION_NOT_AUTHORIZED"  # its policy denies the replication role
    creating = any(r.get("ReplicaStatus") == "CREATING" for r in table.get("Replicas") or ())
    status = "CREATING" if creating else "ACTIVE"  # the witness is made with the replicas
    witnesses = [{"RegionName": m.region, "WitnessStatus": status} for m in members if m.witness]
    if witnesses:
        table["GlobalTableWitnesses"] = witnesses


# --- the write and read path, around moto's answer


def _key_id(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _written(request: ApiRequest, name: str, table: Any) -> list[dict[str, Any]]:
    """The primary keys the call writes in table ``name``."""
    names = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
    params = request.params
    if request.operation == "PutItem":
        return [{k: params["Item"][k] for k in names if k in params["Item"]}]
    if request.operation in ("UpdateItem", "DeleteItem"):
        return [dict(params["Key"])]
    keys = []
    for entry in (params.get("RequestItems") or {}).get(name) or ():
        if "PutRequest" in entry:
            keys.append({k: entry["PutRequest"]["Item"][k] for k in names if k in entry["PutRequest"]["Item"]})
        elif "DeleteRequest" in entry:
            keys.append(dict(entry["DeleteRequest"]["Key"]))
    return keys


def _tables(request: ApiRequest) -> list[str]:
    if request.operation in ("BatchWriteItem",):
        return sorted((request.params.get("RequestItems") or {}).keys())
    if request.operation == "TransactWriteItems":
        return sorted({str(next(iter(e.values())).get("TableName", "")) for e in request.params.get("TransactItems") or ()})
    if request.operation == "TransactGetItems":
        return sorted({str(e.get("Get", {}).get("TableName", "")) for e in request.params.get("TransactItems") or ()})
    return [str(request.params.get("TableName", ""))]


def around(request: ApiRequest, plane: Any, proceed: Callable[[], ApiResponse]) -> ApiResponse:
    """An MRSC table's call goes through the part's StrongConsistency; any other call straight to ``proceed``."""
    tables: StrongTables = plane.global_tables.strong
    region = request.region
    groups = {name: plane.global_tables.group(name, region) for name in _tables(request)}
    strong = sorted(name for name, group in groups.items() if tables.is_strong(name, group))
    if not strong:
        return proceed()
    name = strong[0]
    if request.operation in REFUSED:
        what = "Time to Live (TTL) is" if request.operation == "UpdateTimeToLive" else "Transaction operations are"
        raise _validation(f"{what} not supported for MRSC global tables ({name} is one)")
    if request.operation in READS and not request.params.get("ConsistentRead"):
        return proceed()  # eventually consistent: the local replica as it is
    if len(groups) > 1:
        raise _validation(f"The local stack takes a BatchWriteItem on an MRSC global table ({name}) only when it "
                          f"writes that one table; got {', '.join(sorted(groups))}")
    path: StrongConsistency | None = plane.services.find(StrongConsistency)
    if path is None:
        raise AwsError("InternalServerError", "the local stack's dynamodb part is not running: MRSC tables cannot "
                                              "be written or strongly read", 500, sender=False)

    def members() -> list[MrscMember]:
        return tables.members(name, plane.global_tables.group(name, region) or {})

    def catch_up(source: str, target: str) -> None:
        replica = backends.dynamodb(target).tables.get(name)
        original = backends.dynamodb(source).tables.get(name)
        if replica is not None and original is not None:
            replica.items = copy.deepcopy(original.items)

    if request.operation in READS:
        return path.strong_read(name, region, members, proceed, catch_up)
    local = backends.dynamodb(region).get_table(name)
    keys = _written(request, name, local)

    def replicate(target: str) -> None:
        replica = backends.dynamodb(target).tables.get(name)
        if replica is None:
            return  # deleted meanwhile
        for key in keys:
            hash_key, range_key = backends.dynamodb(region).get_keys_value(local, key)
            item = local.get_item(hash_key, range_key)
            if item is None:
                replica.delete_item(hash_key, range_key)
            else:
                replica.put_item(copy.deepcopy(item.to_json()["Attributes"]))

    return path.strong_write(name, region, [_key_id(k) for k in keys], members, proceed, replicate, catch_up)


Around = Callable[[ApiRequest, Any, Callable[[], ApiResponse]], ApiResponse]
AROUND: dict[str, Around] = {operation: around for operation in WRITES | READS | REFUSED}


def outside(outer: Mapping[str, Around], inner: Mapping[str, Around]) -> dict[str, Around]:
    """The wrappers ``outer`` run around ``inner``'s, per operation."""
    def nest(first: Around | None, second: Around | None) -> Around:
        def both(request: ApiRequest, plane: Any, call: Callable[[], ApiResponse]) -> ApiResponse:
            def then() -> ApiResponse:
                return second(request, plane, call) if second is not None else call()

            return first(request, plane, then) if first is not None else then()
        return both

    return {operation: nest(outer.get(operation), inner.get(operation)) for operation in {*outer, *inner}}
