"""The replicator: carries every write to a global table to the table's other replicas.

One thread does everything, in order: it first takes the writes the control plane notified (reads
each written item in its source Region, right away), then applies the deliveries that are due, in
the order they fall due. A delivery is due at the source write's time plus the modelled delay
between the two Regions, so the writes from one Region reach another in the order they were made.

Conflicts are last-writer-wins by the source write's time (``Stamp``): every replica remembers the
stamp of the last write it holds for each item (its own Region's writes and the replicated ones),
and a delivery older than that is dropped. Concurrent writes to one item in two Regions so end as
the same item everywhere; a delete carries no item and replicates the same way.

Known gap: a delivery that lands in moto between a user's write to the same item in the target
Region and that write's notification overwrites it there; the user's write is then replicated with
what the Region holds after it (the delivered item), so the replicas still converge, but on the older
content. Closing it needs the part to order its deliveries with users' writes per item.

The replicator's own writes carry ``MARKER`` in their User-Agent, so the part never replicates them
again.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stack.local.dynamodb.writes import Written, key_id

MARKER = "gameday-dynamodb-replicator"
# Replica statuses a write is carried to: a replica being created receives writes like an active one.
RECEIVING = frozenset({"CREATING", "ACTIVE", "UPDATING"})


@dataclass(frozen=True, order=True)
class Stamp:
    """When a write was made (monotonic seconds), and where: the Region breaks an exact tie."""

    at: float
    region: str


@dataclass(frozen=True)
class TableInfo:
    key_names: tuple[str, ...]
    replicas: tuple[str, ...]  # the Regions receiving writes; empty when the table is not global


@dataclass(frozen=True, order=True)
class Delivery:
    due: float  # monotonic
    seq: int  # keeps the order of deliveries due at the same instant
    table: str = field(compare=False)
    target: str = field(compare=False)
    key: Mapping[str, Any] = field(compare=False)
    item: Mapping[str, Any] | None = field(compare=False)  # None: the item is deleted
    stamp: Stamp = field(compare=False)


class Replicator:
    def __init__(self, client: Callable[[str], Any], delay_s: Callable[[str, str], float],
                 log: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        """``client(region)``: a DynamoDB client whose calls carry MARKER; ``delay_s(source, target)``: wall seconds."""
        self._client = client
        self._delay_s = delay_s
        self._log = log
        self._clock = clock
        self._inbox: deque[tuple[Stamp, Written]] = deque()
        self._due: list[Delivery] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy = 0  # writes or deliveries taken off the queues and not yet done
        self._forgotten = 0  # counts ``forget`` calls: a description read across one is not kept
        # Read and written by the replicator's thread only (``_tables`` also by ``forget``, under the lock).
        self._tables: dict[tuple[str, str], TableInfo] = {}
        self._stamps: dict[tuple[str, str, str], Stamp] = {}  # (table, Region, key) -> last write held
        self.problems: dict[tuple[str, str], str] = {}  # (table, Region) -> why the last delivery failed
        self.counts = {"replicated": 0, "superseded": 0, "failed": 0}
        self.last_latency_s: dict[str, float] = {}  # "source>target" -> wall seconds of the last delivery

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="dynamodb-replicator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._inbox) + len(self._due) + self._busy

    @property
    def scheduled(self) -> int:
        """Deliveries read and waiting for their time."""
        with self._wake:
            return len(self._due)

    def submit(self, region: str, writes: list[Written]) -> None:
        """Writes the control plane just made in ``region``: stamped now, read and scheduled by the thread."""
        stamp = Stamp(self._clock(), region)
        with self._wake:
            self._inbox.extend((stamp, w) for w in writes)
            self._wake.notify()

    def forget(self, table: str) -> None:
        """The table's replicas or keys may have changed: read its description again at its next write."""
        with self._wake:
            self._forgotten += 1
            for key in [k for k in self._tables if k[0] == table]:
                del self._tables[key]

    # --- the thread

    def _run(self) -> None:
        while True:
            delivery = None
            with self._wake:
                while not self._stopping and not self._inbox and not self._ready():
                    self._wake.wait(self._due[0].due - self._clock() if self._due else None)
                if self._stopping:
                    return
                # Notified writes before any delivery, re-checked before each one: a local write's stamp
                # must be held before an older delivery to its item lands (last writer wins).
                taken = list(self._inbox)
                self._inbox.clear()
                if not taken:
                    delivery = heapq.heappop(self._due)
                self._busy = len(taken) or 1
            for stamp, write in taken:
                self._schedule(stamp, write)
            if delivery is not None:
                self._deliver(delivery)
            with self._wake:
                self._busy = 0

    def _ready(self) -> bool:
        return bool(self._due) and self._due[0].due <= self._clock()

    def _info(self, table: str, region: str) -> TableInfo:
        with self._wake:
            found = self._tables.get((table, region))
            forgotten = self._forgotten
        if found is None:
            described = self._client(region).describe_table(TableName=table)["Table"]
            replicas = tuple(r["RegionName"] for r in described.get("Replicas") or ()
                             if r.get("ReplicaStatus") in RECEIVING)
            if described.get("MultiRegionConsistency") == "STRONG":
                replicas = ()  # replicated synchronously on the write path (strong.py), not here
            found = TableInfo(tuple(k["AttributeName"] for k in described["KeySchema"]), replicas)
            with self._wake:
                if forgotten == self._forgotten:  # else the table changed while it was being read
                    self._tables[(table, region)] = found
        return found

    def _schedule(self, stamp: Stamp, write: Written) -> None:
        """Remember the write's stamp in its Region, read the item there, and schedule it to every other replica."""
        try:
            info = self._info(write.table, stamp.region)
            if stamp.region not in info.replicas:
                return  # not a global table (or no longer one)
            key = write.key_in(info.key_names)
            self._hold(write.table, stamp.region, key, stamp)
            found = self._client(stamp.region).get_item(TableName=write.table, Key=key, ConsistentRead=True)
        except Exception as error:  # noqa: BLE001 - one unreadable write must not stop replication
            self._log.warning("dynamodb: cannot read a write to %s in %s: %s", write.table, stamp.region, error)
            self.problems[(write.table, stamp.region)] = f"reading a write to replicate failed: {error}"
            self.counts["failed"] += 1
            return
        self.problems.pop((write.table, stamp.region), None)
        item = found.get("Item")
        with self._wake:
            for target in info.replicas:
                if target != stamp.region:
                    due = stamp.at + self._delay_s(stamp.region, target)
                    heapq.heappush(self._due, Delivery(due, next(self._seq), write.table, target, key, item, stamp))

    def _hold(self, table: str, region: str, key: Mapping[str, Any], stamp: Stamp) -> bool:
        """Record that ``region`` holds the write ``stamp`` of the item; False when it holds a later one."""
        index = (table, region, key_id(key))
        held = self._stamps.get(index)
        if held is not None and held > stamp:
            return False
        self._stamps[index] = stamp
        return True

    def _deliver(self, delivery: Delivery) -> None:
        if not self._hold(delivery.table, delivery.target, delivery.key, delivery.stamp):
            self.counts["superseded"] += 1  # last writer wins: the target holds a later write
            return
        client = self._client(delivery.target)
        try:
            if delivery.item is None:
                client.delete_item(TableName=delivery.table, Key=dict(delivery.key))
            else:
                client.put_item(TableName=delivery.table, Item=dict(delivery.item))
        except Exception as error:  # noqa: BLE001 - a replica deleted meanwhile, or the endpoint stopping
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
                self._log.info("dynamodb: %s has no replica in %s any more; write dropped", delivery.table, delivery.target)
                return  # the replica was deleted after the write was made: nothing is owed to it
            self._log.warning("dynamodb: replicating to %s in %s failed: %s", delivery.table, delivery.target, error)
            self.problems[(delivery.table, delivery.target)] = f"applying a replicated write failed: {error}"
            self.counts["failed"] += 1
            return
        self.problems.pop((delivery.table, delivery.target), None)
        self.counts["replicated"] += 1
        self.last_latency_s[f"{delivery.stamp.region}>{delivery.target}"] = self._clock() - delivery.stamp.at
