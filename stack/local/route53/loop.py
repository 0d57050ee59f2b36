"""An asyncio event loop on its own thread, for parts whose caller (the supervisor, a test) is synchronous.

The loop is uvloop's when it is installed (as the fabric's is): it serves the same asyncio API with its
I/O in C, and the DNS server's cost per UDP query is mostly that I/O (reading the datagram, waking the
loop, sending the reply), not the answer, which usually comes from the answer cache. uvloop also holds
the GIL for less of each query, which matters in the supervisor, where the DNS loop shares one process
with the control plane and the other parts.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Coroutine, TypeVar

from stack.local.route53.errors import Route53Error

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    """Runs one event loop in a daemon thread; ``run`` submits a coroutine and waits for its result."""

    def __init__(self, name: str) -> None:
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # Give cancelled tasks their chance to clean up before the loop is closed.
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        """Run ``coroutine`` on the loop. Raises Route53Error when it does not finish within ``timeout_s``."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise Route53Error(f"{self._thread.name}: a task did not finish within {timeout_s} s") from None

    def call_soon(self, callback: Callable[..., object], *args: object) -> None:
        self.loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Stop the loop and join its thread. Safe to call twice."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
