"""A store's till and the cloud's sales ledger, seen from the store and from a user's place.

The till rings up one sale per sample at the store's point of sale, from an address in the store's
own range (a till at the store reaches the POS over the store's LAN, never over the service link).
A sale counts as *acknowledged* only when the POS answered 201 with its id. The ledger is read from
wherever the caller is (a vantage point in the Region): what the cloud inventory has received, each
sale once, with when it arrived.
"""
from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from base import clock
from probes.sampler import Sampler

SKU = "coffee"


@dataclass(frozen=True)
class Rung:
    """One sale the till asked for: the POS's answer."""

    status: int
    sale_id: str


@dataclass(frozen=True)
class LedgerView:
    """The ledger's answer for one store: each sale id with how many records carry it, and when it arrived."""

    counts: dict[str, int]
    received_at: dict[str, float]  # sale id -> epoch seconds
    retries_answered: int


def _call(host: str, port: int, method: str, path: str, source_address: str | None, timeout_s: float,
          body: Any = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s,
                                            source_address=(source_address, 0) if source_address else None)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@dataclass(frozen=True)
class Till:
    host: str
    port: int
    source_address: str | None  # an address in the store's range (None on a real estate: the till's own)
    timeout_s: float = 2.0

    def sell(self, sku: str = SKU, quantity: int = 1) -> Rung:
        status, body = _call(self.host, self.port, "POST", "/sales", self.source_address, self.timeout_s,
                             {"sku": sku, "quantity": quantity})
        return Rung(status, str(body.get("sale_id", "")) if isinstance(body, dict) else "")

    def status(self) -> dict[str, Any]:
        """The POS's own view: sales, pending, synced, and the ledger it syncs to (``ledger``: HOST:PORT)."""
        code, body = _call(self.host, self.port, "GET", "/status", self.source_address, self.timeout_s)
        if code != 200 or not isinstance(body, dict):
            raise OSError(f"the POS at {self.host}:{self.port} answered {code} to GET /status")
        return body


def sampler(till: Till, store: str, interval_s: float) -> Sampler[Rung]:
    """Ring up one sale every ``interval_s``; a sample is good when the POS acknowledged the sale (201)."""
    return Sampler("store-till", store, till.sell, interval_s, ok=lambda rung: rung.status == 201 and bool(rung.sale_id))


def acknowledged(samples: list[Any]) -> list[tuple[str, clock.Instant]]:
    """(sale id, when the till asked) of every sale the POS acknowledged."""
    return [(s.value.sale_id, s.at) for s in samples if s.ok and s.value is not None]


def ledger(host: str, port: int, store: str, source_address: str | None, timeout_s: float = 2.0) -> LedgerView:
    code, body = _call(host, port, "GET", f"/sales?store={store}", source_address, timeout_s)
    if code != 200 or not isinstance(body, dict):
        raise OSError(f"the ledger at {host}:{port} answered {code} to GET /sales")
    counts: dict[str, int] = {}
    received: dict[str, float] = {}
    for record in body.get("sales", []):
        sale_id = str(record["sale_id"])
        counts[sale_id] = counts.get(sale_id, 0) + 1
        received.setdefault(sale_id, float(record["received_at"]))
    return LedgerView(counts, received, int(body.get("retries_answered", 0)))
