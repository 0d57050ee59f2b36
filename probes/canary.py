"""The order canary: sequenced, acknowledged orders, then a read-back that lists every one missing.

An order counts as *acknowledged* only when checkout answered 201 with its id; anything else
(timeouts included) is unknown and never counted as lost. After recovery every acknowledged order
is read back by its client order id. This is the only input to RPO (Jepsen's standard).
"""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from base import clock
from base.deadline import Deadline
from probes.checkout import Client

CANARY_SKU = "SC-STCK-004"  # a real catalog item: the canary buys stickers
# Read-back requests in flight at once. After a Region evacuation each read crosses Regions twice (user to
# checkout, checkout to the promoted database), about half a second apiece: one at a time, 33 orders took 19 s.
READ_BACK_CONCURRENCY = 8


@dataclass(frozen=True)
class Ack:
    sequence: int
    client_order_id: str
    order_id: str
    acked_at: clock.Instant


@dataclass(frozen=True)
class Attempt:
    sequence: int
    at: clock.Instant
    ok: bool
    error: str = ""


@dataclass(frozen=True)
class ReadBack:
    acknowledged: int
    missing: tuple[Ack, ...]
    unreadable: tuple[str, ...]  # "<client order id>: <why>" for each order that could not be read back


@dataclass
class Canary:
    client: Client
    interval_s: float
    max_orders: int = 10_000
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    acks: list[Ack] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"canary-{self.run_id}", daemon=True)

    def order(self, sequence: int) -> None:
        client_order_id = f"canary-{self.run_id}-{sequence:06d}"
        started = clock.now()
        try:
            _, response = self.client.request("POST", "/orders", json={
                "sku": CANARY_SKU, "quantity": 1, "client_order_id": client_order_id, "canary_seq": sequence})
            if response.status_code == 201:
                self.acks.append(Ack(sequence, client_order_id, str(response.json()["order_id"]), clock.now()))
                self.attempts.append(Attempt(sequence, started, True))
                return
            self.attempts.append(Attempt(sequence, started, False, f"HTTP {response.status_code}"))
        except Exception as error:  # an outage is data
            self.attempts.append(Attempt(sequence, started, False, f"{type(error).__name__}: {error}"))

    def _run(self) -> None:
        sequence = 0
        while not self._stop.is_set() and sequence < self.max_orders:
            sequence += 1
            self.order(sequence)
            self._stop.wait(self.interval_s)

    def start(self) -> "Canary":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def read_back(self, retry_for_s: float = 0.0, pause_s: float = 1.0) -> ReadBack:
        """Read every acknowledged order back by its client order id (several at once); a 404 is a lost order.

        An order that could not be read (a timeout, a 5xx) is read again every ``pause_s`` until ``retry_for_s``
        has passed, as the chaos schedules' teardown does: right after a failover a read can fail while the
        order is safe. What still cannot be read is ``unreadable``."""
        def read(ack: Ack) -> str:
            """'' when the order is there, 'missing' on a 404, else why it could not be read."""
            try:
                _, response = self.client.request("GET", "/orders", params={"client_order_id": ack.client_order_id})
            except Exception as error:
                return f"{ack.client_order_id}: {type(error).__name__}"
            if response.status_code == 404:
                return "missing"
            return "" if response.status_code == 200 else f"{ack.client_order_id}: HTTP {response.status_code}"

        acks = list(self.acks)  # the canary may still be ordering: judge what was acknowledged until now
        outcomes: dict[str, str] = {}
        deadline = Deadline.after(retry_for_s)
        pending = acks
        with ThreadPoolExecutor(READ_BACK_CONCURRENCY, thread_name_prefix=f"read-back-{self.run_id}") as pool:
            while True:
                for ack, outcome in zip(pending, pool.map(read, pending), strict=True):
                    outcomes[ack.client_order_id] = outcome
                pending = [ack for ack in pending if outcomes[ack.client_order_id] not in ("", "missing")]
                if not pending or deadline.expired:
                    break
                deadline.sleep(pause_s)
        missing = tuple(ack for ack in acks if outcomes[ack.client_order_id] == "missing")
        unreadable = tuple(outcomes[ack.client_order_id] for ack in pending)
        return ReadBack(len(acks), missing, unreadable)
