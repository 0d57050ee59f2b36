"""Multi-Region strong consistency (MRSC): when an MRSC global table's writes and strong reads may proceed.

Usage, with boto3 against the local endpoint exactly as against AWS::

    east = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
    east.create_table(TableName="prices", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                      BillingMode="PAY_PER_REQUEST")          # must still be empty
    east.update_table(TableName="prices", MultiRegionConsistency="STRONG",
                      ReplicaUpdates=[{"Create": {"RegionName": "us-west-2"}},
                                      {"Create": {"RegionName": "eu-central-1"}}])
    # or two replicas and a witness: ReplicaUpdates=[{"Create": {"RegionName": "us-west-2"}}],
    #                                GlobalTableWitnessUpdates=[{"Create": {"RegionName": "eu-central-1"}}]
    east.put_item(TableName="prices", Item={"id": {"S": "p1"}, "price": {"N": "10"}})  # returns once replicated
    west.get_item(TableName="prices", Key={"id": {"S": "p1"}}, ConsistentRead=True)   # sees it at once
    # A write to an item another Region is writing fails with ReplicatedWriteConflictException (retry it).
    # Pause replication to a replica as FIS's aws:dynamodb:global-table-pause-replication does (a deny for
    # the replication role in its resource policy): there, writes and ConsistentRead reads fail with
    # AccessDeniedException; eventually consistent reads return what it held; the other Regions carry on.

The control plane (stack.local.controlplane.mrsc) keeps the items in moto and the table's members; this
module, the part's side of ``StrongConsistency``, decides when a call may go ahead and how long it takes:

- a write needs quorum: its own replica reachable and at least one other member (replica or witness);
  it waits the modelled delay to the nearest reachable member (the inter-Region RTT, unscaled, plus
  ``dynamodb.replication_processing_s``, scaled: the eventual replicator's model), then is applied to
  its replica and to every other reachable replica before it is acknowledged; an unreachable replica
  is marked behind;
- a write to an item another Region is writing is refused with ReplicatedWriteConflictException; writes
  from one Region to one item go one after the other;
- a strongly consistent read needs the same quorum and waits the RTT to the nearest reachable member;
- a replica behind is brought up to date (a copy of the nearest up-to-date replica, after the modelled
  delay) once it is reachable again: by a watcher thread, or first thing by the table's next call.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from stack.local.awserror import AwsError
from stack.local.messages import ApiResponse
from stack.local.services import MrscMember

Members = Callable[[], Sequence[MrscMember]]


def conflict(table: str, region: str, other: str) -> AwsError:
    return AwsError("ReplicatedWriteConflictException",
                    f"One or more items in this request are being modified by a request in another Region "
                    f"(table {table}: written from {other} while {region} wrote it); retry the request")


class StrongCoordinator:
    def __init__(self, delay_s: Callable[[str, str], float], rtt_s: Callable[[str, str], float],
                 log: logging.Logger, sleep: Callable[[float], None] = time.sleep) -> None:
        """``delay_s``: replication delay between Regions, wall seconds; ``rtt_s``: the unscaled round trip."""
        self._delay_s, self._rtt_s, self._log, self._sleep = delay_s, rtt_s, log, sleep
        self._state = threading.Condition()
        self._writing: dict[tuple[str, str], str] = {}  # (table, key) -> the Region writing it
        self._behind: dict[str, set[str]] = {}  # table -> replicas missing acknowledged writes
        self._tables: dict[str, threading.RLock] = {}  # applying a write to every replica is one step per table
        self._resume: dict[str, tuple[Members, Callable[[str, str], None]]] = {}  # how to catch a table's replicas up
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.counts = {"writes": 0, "conflicts": 0, "refused": 0, "strong_reads": 0, "caught_up": 0}

    def behind(self, table: str) -> set[str]:
        with self._state:
            return set(self._behind.get(table, ()))

    def forget(self, table: str) -> None:
        """The table was deleted or stopped being MRSC: nothing is owed to its replicas any more."""
        with self._state:
            self._behind.pop(table, None)
            self._resume.pop(table, None)

    # --- the two paths

    def strong_write(self, table: str, region: str, keys: Sequence[str], members: Members,
                     apply: Callable[[], ApiResponse], replicate: Callable[[str], None],
                     catch_up: Callable[[str, str], None]) -> ApiResponse:
        wait_s = self._quorum(table, region, members(), catch_up, self._delay_s)
        self._enter(table, region, keys)
        try:
            self._sleep(wait_s)  # the synchronous round to the nearest member, before anything is visible
            with self._table(table):
                now = members()
                self._quorum(table, region, now, catch_up, self._delay_s)  # cut off meanwhile: still refused
                response = apply()
                if response.status < 300:
                    self._spread(table, region, now, members, replicate, catch_up)
                    self.counts["writes"] += 1
                return response
        finally:
            self._leave(table, keys)

    def strong_read(self, table: str, region: str, members: Members, apply: Callable[[], ApiResponse],
                    catch_up: Callable[[str, str], None]) -> ApiResponse:
        wait_s = self._quorum(table, region, members(), catch_up, self._rtt_s)
        self._sleep(wait_s)
        self.counts["strong_reads"] += 1
        return apply()

    # --- helpers

    def _quorum(self, table: str, region: str, now: Sequence[MrscMember], catch_up: Callable[[str, str], None],
                cost_s: Callable[[str, str], float]) -> float:
        """Refuse as AWS does when ``region`` cannot reach quorum; the wall seconds to its nearest member."""
        mine = next((m for m in now if m.region == region and not m.witness), None)
        if mine is None or not mine.reachable:
            self.counts["refused"] += 1
            raise AwsError("AccessDeniedException",
                           f"The replica of table {table} in {region} is not authorized to replicate (its "
                           f"resource-based policy denies the DynamoDB replication role): writes and strongly "
                           f"consistent reads fail until replication to it is allowed again", 400)
        self._catch_up(table, now, catch_up)
        others = [m for m in now if m.region != region and m.reachable]
        if not others:
            self.counts["refused"] += 1
            raise AwsError("InternalServerError",
                           f"Table {table} in {region} cannot reach a quorum: no other replica or witness of "
                           f"the global table is reachable; only eventually consistent reads are served", 500,
                           sender=False)
        return min(cost_s(region, m.region) for m in others)

    def _catch_up(self, table: str, now: Sequence[MrscMember], catch_up: Callable[[str, str], None]) -> None:
        """Bring every reachable replica that is behind up to date from the nearest one that is not."""
        reachable = {m.region for m in now if m.reachable and not m.witness}
        with self._state:
            behind = self._behind.get(table, set())
            due = sorted(behind & reachable)
            sources = sorted(reachable - behind)
        if not due:
            return
        if not sources:
            raise AwsError("InternalServerError",
                           f"Table {table}: the replicas {', '.join(due)} are catching up and no up-to-date "
                           f"replica is reachable to catch up from", 500, sender=False)
        plan = {target: min(sources, key=lambda s: self._delay_s(s, target)) for target in due}
        # The transfer's time, outside the table's lock: writes meanwhile reach the replica too, and the
        # copy below (under the lock) holds them all, as it is made from an up-to-date replica.
        self._sleep(max(self._delay_s(source, target) for target, source in plan.items()))
        with self._table(table):
            for target, source in plan.items():
                with self._state:
                    if target not in self._behind.get(table, set()):
                        continue  # caught up by another call meanwhile
                catch_up(source, target)
                with self._state:
                    self._behind.get(table, set()).discard(target)
                self.counts["caught_up"] += 1
                self._log.info("dynamodb: the MRSC replica of %s in %s caught up from %s", table, target, source)

    def watch(self, poll_s: float) -> None:
        """Catch up, every ``poll_s`` wall seconds, the replicas that are behind and reachable again."""
        self._stopping.clear()
        self._watcher = threading.Thread(target=self._watch, args=(poll_s,), name="dynamodb-mrsc-catch-up", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(10)
            self._watcher = None

    def _watch(self, poll_s: float) -> None:
        while not self._stopping.wait(poll_s):
            with self._state:
                owed = [(table, self._resume[table]) for table in sorted(self._behind) if self._behind[table]]
            for table, (members, catch_up) in owed:
                try:
                    self._catch_up(table, members(), catch_up)
                except Exception as error:  # noqa: BLE001 - tried again at the next poll, or by the next call
                    self._log.warning("dynamodb: catching up the MRSC replicas of %s failed: %s", table, error)

    def _spread(self, table: str, region: str, now: Sequence[MrscMember], members: Members,
                replicate: Callable[[str], None], catch_up: Callable[[str, str], None]) -> None:
        for member in now:
            if member.witness or member.region == region:
                continue
            if member.reachable:
                replicate(member.region)
            else:
                with self._state:
                    self._behind.setdefault(table, set()).add(member.region)
                    self._resume[table] = (members, catch_up)  # for the watcher

    def _enter(self, table: str, region: str, keys: Sequence[str]) -> None:
        with self._state:
            while True:
                writers = {self._writing[(table, k)] for k in keys if (table, k) in self._writing}
                other = next(iter(sorted(writers - {region})), None)
                if other is not None:
                    self.counts["conflicts"] += 1
                    raise conflict(table, region, other)
                if not writers:
                    break
                self._state.wait()  # the same Region is writing the item: after it
            for key in keys:
                self._writing[(table, key)] = region

    def _leave(self, table: str, keys: Sequence[str]) -> None:
        with self._state:
            for key in keys:
                self._writing.pop((table, key), None)
            self._state.notify_all()

    def _table(self, table: str) -> threading.RLock:
        with self._state:
            return self._tables.setdefault(table, threading.RLock())
