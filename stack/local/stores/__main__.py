"""Run one store service: ``python -m stack.local.stores pos|ledger --uds PATH ...`` (started by the stores part)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from base.numbers import whole_number
from stack.local.stores import server
from stack.local.stores.ledger import Ledger
from stack.local.stores.pos import Outbox, PointOfSale, ledger_sender


def _stock(values: list[str]) -> dict[str, int]:
    stock = {}
    for value in values:
        sku, _, count = value.partition("=")
        number = whole_number(count)
        if not sku or number is None:
            raise SystemExit(f"--stock {value!r}: expected SKU=COUNT such as coffee=500")
        stock[sku] = number
    return stock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.local.stores")
    parser.add_argument("role", choices=("pos", "ledger"))
    parser.add_argument("--uds", required=True, help="the Unix socket to serve on (the fabric exposes it)")
    parser.add_argument("--data", required=True, help="the JSON-lines file the service keeps its records in")
    parser.add_argument("--store", default="", help="pos: the store's name")
    parser.add_argument("--stock", action="append", default=[], help="pos: SKU=COUNT, repeatable")
    parser.add_argument("--ledger", default="", help="pos: the ledger's private HOST:PORT")
    parser.add_argument("--source-address", default="", help="pos: the store's own address, to send from")
    parser.add_argument("--timeout-s", type=float, default=2.0, help="pos: wall seconds one sync request may take")
    parser.add_argument("--interval-s", type=float, default=0.2, help="pos: wall seconds between sync rounds")
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    Path(args.uds).unlink(missing_ok=True)
    pos: PointOfSale | None = None
    if args.role == "pos":
        host, _, port = args.ledger.rpartition(":")
        pos = PointOfSale(args.store, _stock(args.stock), Outbox(Path(args.data)),
                          ledger_sender(host, int(port), args.source_address, args.timeout_s), interval_s=args.interval_s,
                          ledger=args.ledger)
        route = server.pos_routes(pos)
        pos.start()
    else:
        route = server.ledger_routes(Ledger(Path(args.data)))
    httpd = server.serve(args.uds, route)

    def stop(*_: Any) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        if pos is not None:
            pos.stop()
        httpd.server_close()
        Path(args.uds).unlink(missing_ok=True)
    return 0


def _exit_with_parent(parent: int) -> None:
    """A service whose supervisor died is a leftover: exit once the parent is gone."""
    while os.getppid() == parent:
        threading.Event().wait(1.0)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
