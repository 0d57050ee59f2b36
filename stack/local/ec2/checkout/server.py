"""Serving the checkout app with uvicorn, configured for latency measurement.

uvicorn with httptools (a C HTTP parser) and uvloop (libuv's event loop) is a production server with
low, steady per-request overhead; no access log is written per request (it would add I/O to every
sample). One worker: one instance runs one process, as the fabric and the part expect.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Sequence

import uvicorn

from stack.local.ec2.checkout.app import create_app
from stack.local.ec2.checkout import tracing
from stack.local.ec2.checkout.config import CheckoutConfig, ConfigError, parse

log = logging.getLogger("gameday.ec2.checkout")
GRACEFUL_SHUTDOWN_S = 2
PARENT_POLL_S = 0.5


def uvicorn_config(config: CheckoutConfig) -> uvicorn.Config:
    listen = config.listen
    where = {"uds": str(listen.uds)} if listen.uds is not None else {"host": listen.host, "port": listen.port}
    return uvicorn.Config(
        # ws="none": checkout serves no WebSocket, and "auto" would import a WebSocket stack into every instance.
        create_app(config), **where, loop="uvloop", http="httptools", ws="none", lifespan="on", access_log=False,
        log_level="warning", server_header=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=30,
    )


def _exit_with_parent(server: uvicorn.Server) -> None:
    # If the supervisor dies without stopping us we are re-parented: leave rather than linger.
    # (PR_SET_PDEATHSIG would fire when the *thread* that forked us exits, which is not what we want.)
    parent = os.getppid()

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(PARENT_POLL_S):
            if os.getppid() != parent:
                log.warning("parent %d is gone; shutting down", parent)
                server.should_exit = True
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = parse(argv)
    except ConfigError as error:
        print(f"checkout: {error}", file=sys.stderr)
        return 2
    stop_tracing = tracing.install(config.tracing)
    server = uvicorn.Server(uvicorn_config(config))
    if config.exit_with_parent:
        _exit_with_parent(server)
    log.info("checkout %s (%s) listening on %s", config.placement.instance_id, config.placement.availability_zone,
             config.listen.describe())
    try:
        server.run()
    finally:
        stop_tracing()  # flushes the spans still queued
    return 0 if server.started else 1
