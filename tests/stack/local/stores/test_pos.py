"""The point of sale keeps selling without the cloud and syncs every sale once; the ledger keeps each sale once."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest

from stack.local.stores.ledger import Conflict, Ledger
from stack.local.stores.pos import Outbox, OutOfStock, PointOfSale


class Link:
    """The service link between the store and the ledger: up, down, or losing the ledger's answers."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.state = "up"  # "up", "down" (nothing arrives) or "lossy" (the sale arrives, its answer is lost)

    def send(self, sales: Sequence[Mapping[str, Any]]) -> int:
        if self.state == "down":
            raise TimeoutError("timed out")
        self.ledger.record_batch(sales)
        if self.state == "lossy":
            raise ConnectionResetError("the answer was lost")
        return 200


def test_the_store_sells_while_the_link_is_down_and_every_sale_reaches_the_ledger_once(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    link = Link(ledger)
    pos = PointOfSale("store-nyc", {"coffee": 10}, Outbox(tmp_path / "outbox.jsonl"), link.send)
    link.state = "down"
    sold = [pos.sell("coffee", 1).sale_id for _ in range(3)]
    assert not pos.sync_once() and pos.status()["pending"] == 3 and "timed out" in pos.last_error
    link.state = "lossy"  # the first sale reaches the ledger, but the store never hears so
    assert not pos.sync_once()
    link.state = "up"
    assert pos.sync_once()
    assert list(ledger.records) == sold  # in order, each once
    assert ledger.retries == 3  # the lost acknowledgement's batch was answered from the first records
    assert pos.status()["pending"] == 0 and pos.stock["coffee"] == 7


def test_a_restarted_store_keeps_its_unsynced_sales_and_its_stock(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    link = Link(ledger)
    link.state = "down"
    first = PointOfSale("store-nyc", {"coffee": 5}, Outbox(tmp_path / "outbox.jsonl"), link.send)
    first.sell("coffee", 2)
    again = PointOfSale("store-nyc", {"coffee": 5}, Outbox(tmp_path / "outbox.jsonl"), link.send)
    assert again.stock["coffee"] == 3 and again.status()["pending"] == 1
    with pytest.raises(OutOfStock):
        again.sell("coffee", 4)
    with pytest.raises(ValueError, match="unknown sku 'tea'"):
        again.sell("tea", 1)
    link.state = "up"
    assert again.sync_once()
    assert len(Ledger(tmp_path / "ledger.jsonl").records) == 1  # the ledger's file keeps it too


def test_the_ledger_refuses_a_key_reused_for_another_sale(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    sale = {"store": "store-nyc", "sku": "coffee", "quantity": 1, "sold_at": 1.0}
    assert ledger.record("k1", sale)[1]
    assert not ledger.record("k1", sale)[1]
    with pytest.raises(Conflict):
        ledger.record("k1", {**sale, "quantity": 2})
    with pytest.raises(ValueError, match="needs store, sku"):
        ledger.record("k2", {"store": "store-nyc"})
