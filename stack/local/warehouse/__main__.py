"""The warehouse process: the inventory API and the warehouse service with its control API.

    python -m stack.local.warehouse --db PATH --listen HOST --site ADDRESS --inventory ADDRESS:PORT
        --time-scale F --ready PATH [--parent PID]

It writes the inventory API's port to ``--ready`` once both servers listen, and exits when its
parent (``--parent``, else the process that started it: the stack's zygote) is gone, so no orphan
outlives a killed stack.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from base.timescale import TimeScale
from environments import warehouse as addresses
from stack.local.warehouse.inventory import InventoryServer, Store
from stack.local.warehouse.site import ControlServer, WarehouseService


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.local.warehouse")
    parser.add_argument("--db", required=True)
    parser.add_argument("--listen", required=True, help="the host the inventory API binds (the fabric exposes it)")
    parser.add_argument("--site", required=True, help="the warehouse service's address at its site")
    parser.add_argument("--inventory", required=True, help="the inventory API's address in the Region, HOST:PORT")
    parser.add_argument("--time-scale", type=float, required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--parent", type=int, default=0, help="exit when this process is no longer the parent "
                                                               "(default: the parent at start)")
    args = parser.parse_args(argv)
    parent = args.parent or os.getppid()
    host, _, port = args.inventory.rpartition(":")
    store = Store(Path(args.db))
    inventory = InventoryServer(args.listen, store)
    inventory.start()
    service = WarehouseService(args.site, (host, int(port)), TimeScale(args.time_scale))
    control = ControlServer((args.site, addresses.CONTROL_PORT), service)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    Path(args.ready).write_text(str(inventory.port))
    while not stopping.wait(0.5):
        if os.getppid() != parent:
            break
    control.stop()
    service.close()
    inventory.stop()
    store.close()
    time.sleep(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
