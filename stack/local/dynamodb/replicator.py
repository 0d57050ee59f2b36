"""The replicator: carries every write to a global table to the table's other replicas.

The control plane hands it each local write to a global table (``submit``), stamped and with the
image of the item as the write left it, under the table's lock (``GlobalTableItems``). One thread
applies the deliveries in the order they fall due: a delivery is due at the source write's time plus
the modelled delay between the two Regions, so the writes from one Region reach another in the order
they were made.

Conflicts are last-writer-wins by the source write's stamp: the control plane applies a delivery only
when the target replica holds an older stamp for the item, under the same lock as users' writes to
that table, so a delivery racing a user's write in the target Region never overwrites a later write.
Concurrent writes to one item in two Regions so end as the newest of them everywhere; a delete
carries no item and replicates the same way.

A replica whose resource-based policy denies the replication service-linked role (the statement FIS's
aws:dynamodb:global-table-pause-replication appends) neither receives nor sends: its deliveries are
held, in order, never dropped, and go once the statement is gone (or its DateLessThan has passed).
"""
from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stack.local.services import GlobalTableItems, ItemWrite

# How long a replica's "replication denied" answer is trusted (wall seconds): a policy change also
# clears it at once (``policies_changed``); this bounds how late a statement's DateLessThan is noticed.
DENIED_FOR_S = 0.5


@dataclass(frozen=True, order=True)
class Delivery:
    due: float  # monotonic
    seq: int  # keeps the order of deliveries due at the same instant
    write: ItemWrite = field(compare=False)  # as the target must hold it (region: the target)
    source: str = field(compare=False)


class Replicator:
    def __init__(self, items: GlobalTableItems, delay_s: Callable[[str, str], float], log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic,
                 on_applied: Callable[[Delivery, float], None] | None = None) -> None:
        """``delay_s(source, target)``: wall seconds; ``on_applied(delivery, latency_s)`` after each applied delivery."""
        self._items = items
        self._delay_s = delay_s
        self._log = log
        self._clock = clock
        self._on_applied = on_applied
        self._due: list[Delivery] = []
        self._held: list[Delivery] = []  # to or from a replica that denies replication, in order
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy = 0
        self._denied: dict[tuple[str, str], tuple[float, bool]] = {}  # (table, Region) -> (checked at, denied)
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
        """Deliveries not yet applied, held ones included."""
        with self._wake:
            return len(self._due) + len(self._held) + self._busy

    @property
    def scheduled(self) -> int:
        """Deliveries waiting for their time."""
        with self._wake:
            return len(self._due)

    @property
    def held(self) -> int:
        """Deliveries held because a replica denies replication."""
        with self._wake:
            return len(self._held)

    def submit(self, write: ItemWrite) -> None:
        """A local write to a global table (called under the table's lock): scheduled to every other replica."""
        with self._wake:
            for target in write.targets:
                due = write.stamp.at + self._delay_s(write.region, target)
                delivery = Delivery(due, next(self._seq), dataclasses.replace(write, region=target, targets=()),
                                    write.region)
                heapq.heappush(self._due, delivery)
            self._wake.notify()

    def policies_changed(self) -> None:
        """A resource policy (or a table) changed: look again at which replicas deny replication."""
        with self._wake:
            self._denied.clear()
            self._release()
            self._wake.notify()

    # --- the thread

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._ready():
                    timeout = self._due[0].due - self._clock() if self._due else None
                    if self._held:  # a statement's DateLessThan may pass: look again now and then
                        timeout = min(timeout, DENIED_FOR_S) if timeout is not None else DENIED_FOR_S
                    if not self._wake.wait(timeout) and self._held:
                        self._denied.clear()
                        self._release()
                if self._stopping:
                    return
                delivery = heapq.heappop(self._due)
                self._busy = 1
            try:
                self._deliver(delivery)
            finally:
                with self._wake:
                    self._busy = 0

    def _ready(self) -> bool:
        return bool(self._due) and self._due[0].due <= self._clock()

    def _release(self) -> None:
        """Held deliveries whose replicas no longer deny go back, with their first due time and order (under _wake)."""
        keep = []
        for delivery in self._held:
            if self._denies(delivery):
                keep.append(delivery)
            else:
                heapq.heappush(self._due, delivery)
        self._held = keep

    def _denies(self, delivery: Delivery) -> bool:
        table = delivery.write.table
        return self._is_denied(table, delivery.source) or self._is_denied(table, delivery.write.region)

    def _is_denied(self, table: str, region: str) -> bool:
        now = self._clock()
        found = self._denied.get((table, region))
        if found is None or now - found[0] > DENIED_FOR_S:
            found = self._denied[(table, region)] = (now, self._items.replication_denied(table, region))
        return found[1]

    def _deliver(self, delivery: Delivery) -> None:
        write = delivery.write
        with self._wake:
            if self._denies(delivery):  # every delivery between the two waits: their order is kept
                self._held.append(delivery)
                return
        try:
            applied = self._items.apply(write)
        except Exception as error:  # noqa: BLE001 - one bad delivery must not stop replication
            self._log.warning("dynamodb: replicating to %s in %s failed: %s", write.table, write.region, error)
            self.problems[(write.table, write.region)] = f"applying a replicated write failed: {error}"
            self.counts["failed"] += 1
            return
        self.problems.pop((write.table, write.region), None)
        if not applied:
            self.counts["superseded"] += 1  # last writer wins (or the replica is gone: nothing is owed to it)
            return
        self.counts["replicated"] += 1
        latency = self._clock() - write.stamp.at
        self.last_latency_s[f"{delivery.source}>{write.region}"] = latency
        if self._on_applied is not None:
            self._on_applied(delivery, latency)
