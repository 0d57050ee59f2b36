"""``DynamoDbPart``: the replication behind the local stack's DynamoDB global tables.

The control plane keeps which Regions replicate a table (stack.local.controlplane.dynamodb) and
shows them in ``DescribeTable``; this part carries the items. Every successful write the control
plane notifies (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) goes to the
replicator, which reads the written item in its source Region and applies it to every other replica
after the modelled delay: the inter-Region RTT of the environment (``region_rtt_ms``, network delay,
never scaled, as in the fabric) plus ``dynamodb.replication_processing_s`` (AWS seconds, scaled by
the environment's time scale).

The part reads and writes through boto3 against the local endpoint, like any user; its writes carry
the replicator's marker in their User-Agent, and the part ignores them when they are notified.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Mapping

from botocore.config import Config

from base.retries import retries
from stack.local.awserror import AwsError
from stack.local.dynamodb.replicator import MARKER, Replicator
from stack.local.dynamodb.strong import StrongCoordinator
from stack.local.dynamodb.writes import TABLE_CHANGES, WRITES, written
from stack.local.part import ApiHandler, ApiResponse, Change, Health, PartContext, local_session
from stack.local.services import MrscMember, StrongConsistency


class DynamoDbPart:
    name: ClassVar[str] = "dynamodb"
    provides: ClassVar[tuple[type, ...]] = (StrongConsistency,)  # MRSC tables' path (strong.py)
    requires: ClassVar[tuple[type, ...]] = ()

    def __init__(self) -> None:
        self._replicator: Replicator | None = None
        self._clients: dict[str, Any] = {}
        self._delays: dict[tuple[str, str], float] = {}  # wall seconds
        self._unmodelled: list[str] = []  # Region pairs with no RTT in the environment
        self._rtts: dict[tuple[str, str], float] = {}  # wall seconds, unscaled
        self.strong: StrongCoordinator | None = None

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: its one thread dies with the supervisor, and it keeps no files."""
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
        endpoint = context.instance.aws_endpoint
        session = local_session()
        config = Config(user_agent_extra=MARKER, retries=retries(3), connect_timeout=2, read_timeout=30)

        def client(region: str) -> Any:  # called from the replicator's thread only
            if region not in self._clients:
                self._clients[region] = session.client("dynamodb", region_name=region, endpoint_url=endpoint,
                                                       config=config)
            return self._clients[region]

        for region in env.regions:  # made now: a first client costs tens of ms, a first write must not
            client(region)
        self._replicator = Replicator(client, self.delay_s, context.log)
        self._replicator.start()
        self.strong = StrongCoordinator(self.delay_s, lambda a, b: self._rtts.get((a, b), 0.0), context.log)

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
        if self._replicator is not None:
            self._replicator.stop()
            self._replicator = None

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        request = change.request
        replicator = self._replicator
        if request.service != "dynamodb" or replicator is None or MARKER in request.user_agent:
            return
        if request.operation in TABLE_CHANGES:
            replicator.forget(str(request.params.get("TableName", "")))
        elif request.operation in WRITES:
            replicator.submit(request.region, written(request))

    def health(self) -> Health:
        replicator = self._replicator
        reasons = [] if replicator is not None else ["the replicator is not running"]
        if replicator is not None:
            problems = dict(replicator.problems)  # a copy: the replicator's thread changes it
            reasons += [f"{table} in {region}: {why}" for (table, region), why in sorted(problems.items())]
        return Health.of(reasons)

    def status(self) -> Mapping[str, Any]:
        replicator = self._replicator
        if replicator is None:
            return {"running": False}
        return {
            "running": True,
            "pending": replicator.pending,
            "scheduled": replicator.scheduled,
            **dict(replicator.counts),
            "last_latency_s": {pair: round(s, 4) for pair, s in sorted(dict(replicator.last_latency_s).items())},
            "regions_without_rtt": list(self._unmodelled),
            "strong": dict(self.strong.counts) if self.strong is not None else {},
        }
