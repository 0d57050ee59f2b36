"""A store's point of sale: it sells from the store's own stock and owes every sale to the cloud.

A sale is final at the till: it is taken from local stock and written to the outbox file before the
till is answered, whether or not the cloud can be reached (the store keeps selling while its Outpost's
service link is down). A sync thread sends the outbox to the cloud's sales ledger in order, in batches,
each sale with its id as its idempotency key, and marks a batch synced once the ledger acknowledges it;
on a failure it backs off and tries again from the first unsynced sale. A retry after a lost acknowledgement is
answered from the ledger's first record, so nothing is counted twice.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

# POSTs a batch of sales to the ledger; its HTTP status. Raises OSError.
Send = Callable[[Sequence[Mapping[str, Any]]], int]
BATCH = 50  # sales per request: a backlog after an outage drains in a few round trips, not one per sale


class OutOfStock(Exception):
    """The store has too few of the item left."""


@dataclass(frozen=True)
class Sale:
    sale_id: str
    store: str
    sku: str
    quantity: int
    sold_at: float


class Outbox:
    """The store's sales and which of them the cloud has acknowledged, kept in a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sales: dict[str, Sale] = {}
        self.synced: dict[str, float] = {}  # sale id -> when the ledger acknowledged it
        if path.exists():
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                if entry["kind"] == "sale":
                    sale = Sale(**entry["sale"])
                    self.sales[sale.sale_id] = sale
                else:
                    self.synced[entry["sale_id"]] = entry["at"]

    def _append(self, entry: Mapping[str, Any]) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()

    def add(self, sale: Sale) -> None:
        self._append({"kind": "sale", "sale": asdict(sale)})
        self.sales[sale.sale_id] = sale

    def mark_synced(self, sale_id: str, at: float) -> None:
        self._append({"kind": "synced", "sale_id": sale_id, "at": at})
        self.synced[sale_id] = at

    def pending(self) -> list[Sale]:
        return [sale for sale_id, sale in self.sales.items() if sale_id not in self.synced]


class PointOfSale:
    def __init__(self, store: str, stock: Mapping[str, int], outbox: Outbox, send: Send,
                 interval_s: float = 0.2, max_backoff_s: float = 2.0, ledger: str = "") -> None:
        """``ledger``: where ``send`` delivers (HOST:PORT), shown in the status for the stores' clients."""
        self.store = store
        self.ledger = ledger
        self.outbox = outbox
        self.send = send
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self._lock = threading.Lock()
        sold: dict[str, int] = {}
        for sale in outbox.sales.values():
            sold[sale.sku] = sold.get(sale.sku, 0) + sale.quantity
        self.stock = {sku: count - sold.get(sku, 0) for sku, count in stock.items()}
        self.last_error = ""
        self.attempts = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def sell(self, sku: str, quantity: int) -> Sale:
        """Take ``quantity`` of ``sku`` from stock and owe the sale to the cloud. Raises OutOfStock, ValueError."""
        if quantity < 1:
            raise ValueError(f"quantity {quantity} is not allowed; sell at least 1")
        with self._lock:
            left = self.stock.get(sku)
            if left is None:
                raise ValueError(f"unknown sku {sku!r}; the store sells {', '.join(sorted(self.stock))}")
            if left < quantity:
                raise OutOfStock(f"{sku}: {left} left, {quantity} asked")
            sale = Sale(str(uuid.uuid4()), self.store, sku, quantity, time.time())
            self.outbox.add(sale)  # durable before the till is answered
            self.stock[sku] = left - quantity
        self._wake.set()
        return sale

    def sync_once(self) -> bool:
        """Send every pending sale in order, in batches; True when none is left. Stops at the first failure."""
        with self._lock:
            pending = self.outbox.pending()
        for start in range(0, len(pending), BATCH):
            batch = pending[start:start + BATCH]
            self.attempts += 1
            try:
                status = self.send([asdict(sale) for sale in batch])
            except OSError as error:
                self.last_error = f"{type(error).__name__}: {error}"
                return False
            if status != 200:
                self.last_error = f"the ledger answered {status} for {len(batch)} sales from {batch[0].sale_id}"
                return False
            with self._lock:
                now = time.time()
                for sale in batch:
                    self.outbox.mark_synced(sale.sale_id, now)
        self.last_error = ""
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pos-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        backoff = self.interval_s
        while not self._stopping.is_set():
            done = self.sync_once()
            backoff = self.interval_s if done else min(backoff * 2, self.max_backoff_s)
            self._wake.wait(backoff)
            self._wake.clear()

    def status(self) -> dict[str, Any]:
        with self._lock:
            pending = self.outbox.pending()
            return {"store": self.store, "ledger": self.ledger, "sales": len(self.outbox.sales), "pending": len(pending),
                    "synced": len(self.outbox.synced), "stock": dict(self.stock), "attempts": self.attempts,
                    "last_error": self.last_error}


def ledger_sender(host: str, port: int, source_address: str, timeout_s: float) -> Send:
    """POST a batch of sales to the ledger from ``source_address`` (the store's own address, so the fabric
    routes it over the store's links); each sale's id is its idempotency key."""

    def send(sales: Sequence[Mapping[str, Any]]) -> int:
        connection = http.client.HTTPConnection(host, port, timeout=timeout_s, source_address=(source_address, 0))
        try:
            connection.request("POST", "/sales/batch", body=json.dumps({"sales": [dict(sale) for sale in sales]}),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    return send
