"""``python -m stack.local.fabric --control <socket> --log <file>``: run the fabric process."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import sys

from stack.local.fabric.control import ControlServer
from stack.local.fabric.fabric import Fabric

# How often the fabric checks that its parent is alive: a crashed supervisor must not leave it behind.
PARENT_POLL_S = 0.5


def _raise_file_limit() -> None:
    # Each connection costs two descriptors; the default soft limit (1024) caps a fabric at ~500.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _watch_parent(parent: int, stopped: asyncio.Event) -> None:
    while not stopped.is_set():
        if os.getppid() != parent:
            logging.getLogger("gameday.fabric").warning("parent %d is gone; stopping", parent)
            stopped.set()
            return
        await asyncio.sleep(PARENT_POLL_S)


async def _run(options: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    firewall = None
    if options.kernel_drop:
        from stack.local.fabric.firewall import Firewall

        firewall = Firewall.create(options.kernel_drop)
    fabric = Fabric(loop, firewall)
    control = ControlServer(fabric, options.control)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, fabric.stopped.set)
    watcher = loop.create_task(_watch_parent(options.parent or os.getppid(), fabric.stopped))
    try:
        await control.start()
        logging.getLogger("gameday.fabric").info("fabric %d ready on %s", os.getpid(), options.control)
        await fabric.stopped.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        control.close()
        fabric.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.local.fabric", description=__doc__)
    parser.add_argument("--control", required=True, help="path of the control Unix socket")
    parser.add_argument("--log", help="log file (default: stderr)")
    parser.add_argument("--parent", type=int, default=0,
                        help="exit when this process is no longer the parent (default: the parent at start)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop (uvloop when installed)")
    parser.add_argument("--kernel-drop", metavar="TABLE", default="",
                        help="also drop SYNs of denied flows with nftables in this table (root only)")
    options = parser.parse_args(argv)
    logging.basicConfig(filename=options.log, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _raise_file_limit()
    runner = asyncio.run
    if options.loop == "uvloop":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            logging.getLogger("gameday.fabric").warning("uvloop is not installed; using asyncio's loop")
    runner(_run(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
