"""``DynamoDbPart``: the replication behind the local stack's DynamoDB global tables.

The control plane keeps which Regions replicate a table (stack.local.controlplane.dynamodb), shows
them in ``DescribeTable``, and lends the items through ``GlobalTableItems``: it hands every local
write to a global table (stamped, with the item as the write left it) to this part's replicator,
which applies it to every other replica after the modelled delay: the inter-Region RTT of the
environment (``region_rtt_ms``, network delay, never scaled, as in the fabric) plus
``dynamodb.replication_processing_s`` (AWS seconds, scaled by the environment's time scale).

A housekeeping thread runs the TTL sweep every ``dynamodb.ttl_sweep_s`` and publishes the measured
ReplicationLatency to CloudWatch every ``dynamodb.metric_period_s`` (AWS seconds, scaled).
A change of a table's resource-based policy makes the replicator look again at which replicas deny
replication (a paused replica's deliveries are held).
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Mapping

from stack.local.dynamodb.metrics import LatencyMetric
from stack.local.awserror import AwsError
from stack.local.dynamodb.replicator import Delivery, Replicator
from stack.local.dynamodb.strong import StrongCoordinator
from stack.local.part import ApiHandler, ApiResponse, Change, Health, PartContext
from stack.local.services import GlobalTableItems, ItemWrite, MrscMember, StrongConsistency

# Calls after which a replica may deny (or no longer deny) replication, or a table is gone.
POLICY_CHANGES = frozenset({"PutResourcePolicy", "DeleteResourcePolicy", "DeleteTable", "UpdateTable"})
# How often, in wall seconds, an MRSC replica that missed writes is checked for being reachable again.
CATCH_UP_POLL_S = 0.1


class DynamoDbPart:
    name: ClassVar[str] = "dynamodb"
    provides: ClassVar[tuple[type, ...]] = (StrongConsistency,)  # MRSC tables' path (strong.py)
    requires: ClassVar[tuple[type, ...]] = (GlobalTableItems,)

    def __init__(self) -> None:
        self._replicator: Replicator | None = None
        self._items: GlobalTableItems | None = None
        self._metric: LatencyMetric | None = None
        self._delays: dict[tuple[str, str], float] = {}  # wall seconds
        self._unmodelled: list[str] = []  # Region pairs with no RTT in the environment
        self._rtts: dict[tuple[str, str], float] = {}  # wall seconds, unscaled
        self.strong: StrongCoordinator | None = None
        self._housekeeping: threading.Thread | None = None
        self._stopping = threading.Event()
        self.expired = 0
        self._sweep_problem: str | None = None

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: its threads die with the supervisor, and it keeps no files."""
        return []

    def start(self, context: PartContext) -> None:
        env = context.environment
        processing_s = env.dynamodb.replication_processing_s
        self._unmodelled = []
        for a, b in itertools.permutations(sorted(env.regions), 2):
            try:
                rtt_s = env.rtt_ms(a, b) / 1000
            except KeyError:
                rtt_s = 0.0
                if a < b:
                    self._unmodelled.append(f"{a} <-> {b}")
            # Network delay is never scaled (as in the fabric); AWS's processing time is.
            self._delays[(a, b)] = rtt_s + context.timescale.to_wall(processing_s)
            self._rtts[(a, b)] = rtt_s
        for region in env.regions:  # made now: a first client costs tens of ms
            context.client("cloudwatch", region)
        metric = self._metric = LatencyMetric(lambda region: context.client("cloudwatch", region), context.log)

        def applied(delivery: Delivery, latency_s: float) -> None:
            metric.add(delivery.source, delivery.write.table, delivery.write.region, latency_s)

        self._replicator = Replicator(context.require(GlobalTableItems), self.delay_s, context.log, on_applied=applied)
        self._replicator.start()
        self.strong = StrongCoordinator(self.delay_s, lambda a, b: self._rtts.get((a, b), 0.0), context.log)
        self.strong.watch(CATCH_UP_POLL_S)
        self._items = context.require(GlobalTableItems)
        self._items.listen(self._local_write)
        self._stopping.clear()
        sweep_s = context.timescale.to_wall(env.dynamodb.ttl_sweep_s)
        period_s = context.timescale.to_wall(env.dynamodb.metric_period_s)
        self._housekeeping = threading.Thread(target=self._housekeep, args=(sweep_s, period_s, context),
                                              name="dynamodb-housekeeping", daemon=True)
        self._housekeeping.start()

    def _local_write(self, write: ItemWrite) -> None:
        replicator = self._replicator
        if replicator is not None:
            replicator.submit(write)

    def _housekeep(self, sweep_s: float, period_s: float, context: PartContext) -> None:
        next_sweep, next_flush = time.monotonic() + sweep_s, time.monotonic() + period_s
        while not self._stopping.wait(max(0.0, min(next_sweep, next_flush) - time.monotonic())):
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + sweep_s
                self.sweep(context)
            if now >= next_flush and self._metric is not None:
                next_flush = now + period_s
                self._metric.flush()

    def sweep(self, context: PartContext) -> int:
        """Delete the expired items of every table with TTL enabled (a global table's deletes replicate)."""
        if self._items is None:
            return 0
        try:
            found = self._items.expire(time.time())
        except Exception as error:  # noqa: BLE001 - the next sweep tries again
            context.log.warning("dynamodb: the TTL sweep failed: %s", error)
            self._sweep_problem = f"the TTL sweep failed: {error}"
            return 0
        self._sweep_problem = None
        self.expired += found
        return found

    def delay_s(self, source: str, target: str) -> float:
        """The modelled replication delay from ``source`` to ``target``, in wall seconds."""
        return self._delays.get((source, target), 0.0)

    def strong_write(self, table: str, region: str, keys: Sequence[str], members: Callable[[], Sequence[MrscMember]],
                     apply: Callable[[], ApiResponse], replicate: Callable[[str], None],
                     catch_up: Callable[[str, str], None]) -> ApiResponse:
        return self._coordinator().strong_write(table, region, keys, members, apply, replicate, catch_up)

    def strong_read(self, table: str, region: str, members: Callable[[], Sequence[MrscMember]],
                    apply: Callable[[], ApiResponse], catch_up: Callable[[str, str], None]) -> ApiResponse:
        return self._coordinator().strong_read(table, region, members, apply, catch_up)

    def _coordinator(self) -> StrongCoordinator:
        if self.strong is None:
            raise AwsError("InternalServerError", "the local stack's dynamodb part is not running", 500, sender=False)
        return self.strong

    def stop(self) -> None:
        if self.strong is not None:
            self.strong.stop()
        self._stopping.set()
        if self._housekeeping is not None:
            self._housekeeping.join(10)
            self._housekeeping = None
        if self._items is not None:
            self._items.unlisten(self._local_write)
            self._items = None
        if self._replicator is not None:
            self._replicator.stop()
            self._replicator = None
        if self._metric is not None:
            self._metric.flush()
            self._metric = None

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        request = change.request
        replicator = self._replicator
        if request.service == "dynamodb" and replicator is not None and request.operation in POLICY_CHANGES:
            replicator.policies_changed()

    def health(self) -> Health:
        replicator = self._replicator
        reasons = [] if replicator is not None else ["the replicator is not running"]
        if replicator is not None:
            problems = dict(replicator.problems)  # a copy: the replicator's thread changes it
            reasons += [f"{table} in {region}: {why}" for (table, region), why in sorted(problems.items())]
        metric = self._metric
        reasons += [why for why in (self._sweep_problem, metric.problem if metric is not None else None) if why]
        return Health.of(reasons)

    def status(self) -> Mapping[str, Any]:
        replicator = self._replicator
        if replicator is None:
            return {"running": False}
        return {
            "running": True,
            "pending": replicator.pending,
            "scheduled": replicator.scheduled,
            "held": replicator.held,
            **dict(replicator.counts),
            "expired": self.expired,
            "latency_samples_published": self._metric.published if self._metric is not None else 0,
            "last_latency_s": {pair: round(s, 4) for pair, s in sorted(dict(replicator.last_latency_s).items())},
            "regions_without_rtt": list(self._unmodelled),
            "strong": dict(self.strong.counts) if self.strong is not None else {},
        }
