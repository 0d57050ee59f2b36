"""The cloud inventory's sales ledger: every store sale it acknowledged, once, by its idempotency key.

A store retries a sale until it is acknowledged, and an acknowledgement can be lost on the way back
(the service link fails after the ledger stored the sale), so the same sale may arrive twice. The
idempotency key (the sale's id) makes a retry return the first answer instead of a second record, as
an idempotent API does; the same key with a different sale is refused (409), never merged.

Records are appended to a JSON-lines file before they are acknowledged, so a restart keeps them.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Record:
    sale_id: str
    store: str
    sku: str
    quantity: int
    sold_at: float  # epoch seconds at the store
    received_at: float  # epoch seconds when the ledger stored it


class Conflict(Exception):
    """The idempotency key was used before for a different sale."""


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.records: dict[str, Record] = {}
        self.retries = 0  # requests answered from an earlier record (a store's retry of an acknowledged sale)
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    record = Record(**json.loads(line))
                    self.records[record.sale_id] = record

    def record(self, key: str, sale: Mapping[str, Any]) -> tuple[Record, bool]:
        """Store ``sale`` under ``key``; (the record, whether it is new). Raises Conflict or ValueError."""
        try:
            store, sku, quantity, sold_at = str(sale["store"]), str(sale["sku"]), int(sale["quantity"]), float(sale["sold_at"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"a sale needs store, sku, quantity and sold_at: {error!r}") from None
        if not key or len(key) > 128:
            raise ValueError(f"Idempotency-Key {key!r} is not valid: 1 to 128 characters")
        with self._lock:
            earlier = self.records.get(key)
            if earlier is not None:
                if (earlier.store, earlier.sku, earlier.quantity, earlier.sold_at) != (store, sku, quantity, sold_at):
                    raise Conflict(f"Idempotency-Key {key} was used for another sale ({earlier.store} {earlier.sku} "
                                   f"x{earlier.quantity})")
                self.retries += 1
                return earlier, False
            record = Record(key, store, sku, quantity, sold_at, time.time())
            with self.path.open("a") as out:
                out.write(json.dumps(asdict(record)) + "\n")
                out.flush()
            self.records[key] = record
            return record, True

    def record_batch(self, sales: Sequence[Mapping[str, Any]]) -> list[tuple[Record, bool]]:
        """Each sale under its own id as the key, in order. Raises Conflict or ValueError at the first bad one
        (those before it are stored: a retry of the batch finds them and answers from them)."""
        return [self.record(str(sale.get("sale_id", "")), sale) for sale in sales]

    def listing(self, store: str | None = None) -> dict[str, Any]:
        with self._lock:
            records = [asdict(r) for r in self.records.values() if store is None or r.store == store]
            return {"sales": records, "retries_answered": self.retries}
