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
    unreadable: tuple[str, ...]  # read-back requests that failed (not counted as lost)


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

    def read_back(self) -> ReadBack:
        """Read every acknowledged order back by its client order id (several at once); a 404 is a lost order."""
        def read(ack: Ack) -> str | None:
            """'' when the order is there, 'missing' on a 404, else why it could not be read."""
            try:
                _, response = self.client.request("GET", "/orders", params={"client_order_id": ack.client_order_id})
            except Exception as error:
                return f"{ack.client_order_id}: {type(error).__name__}"
            if response.status_code == 404:
                return "missing"
            return "" if response.status_code == 200 else f"{ack.client_order_id}: HTTP {response.status_code}"

        acks = list(self.acks)  # the canary may still be ordering: judge what was acknowledged until now
        with ThreadPoolExecutor(READ_BACK_CONCURRENCY, thread_name_prefix=f"read-back-{self.run_id}") as pool:
            outcomes = list(pool.map(read, acks))
        missing = tuple(ack for ack, outcome in zip(acks, outcomes, strict=True) if outcome == "missing")
        unreadable = tuple(outcome for outcome in outcomes if outcome and outcome != "missing")
        return ReadBack(len(acks), missing, unreadable)
