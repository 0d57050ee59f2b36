"""The warehouse service and the inventory API without the fabric: acknowledged means stored, once."""
from __future__ import annotations

import time
from pathlib import Path

from base.timescale import TimeScale
from probes import warehouse as probe
from stack.local.warehouse.inventory import InventoryServer, Store
from stack.local.warehouse.site import WarehouseService
from tests.conftest import worker_index


def test_a_retried_transaction_is_stored_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "inventory.sqlite")
    assert store.apply("t1", "sku-1", 3) is True
    assert store.apply("t1", "sku-1", 3) is False  # the client's retry after a timeout
    assert (store.ids(), store.duplicates) == (["t1"], 1)
    store.close()


def test_every_acknowledged_transaction_is_in_the_inventory(tmp_path: Path) -> None:
    host = f"127.0.{worker_index() + 20}.5"
    store = Store(tmp_path / "inventory.sqlite")
    inventory = InventoryServer(host, store)
    inventory.start()
    service = WarehouseService(host, (host, inventory.port), TimeScale(0.1))
    try:
        service.start(50)
        deadline = time.monotonic() + 10
        while len(service.status()["acked"]) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        service.pause()
    finally:
        service.close()
        inventory.stop()
    acks = [probe.Ack(**a) for a in service.status()["acked"]]
    assert len(acks) >= 5
    assert probe.lost(acks, set(store.ids())) == []
    store.close()


def test_the_probe_reads_rto_and_latency_from_acknowledgements() -> None:
    acks = [probe.Ack("a", 0.0, 0.1, 5.0, 1), probe.Ack("b", 0.1, 9.0, 30.0, 4), probe.Ack("c", 9.0, 9.1, 25.0, 1),
            probe.Ack("d", 9.1, 9.2, 27.0, 1)]
    first = probe.first_ack_after(acks, 1.0)
    assert first is not None and first.id == "b"  # the transaction in flight at the cut
    assert probe.median_latency_ms(acks, 9.0, 10.0) == 26.0  # first attempts only
    assert probe.median_latency_ms(acks, 20.0, 30.0) is None
    assert probe.lost(acks, {"a", "b", "c"}) == ["d"]
