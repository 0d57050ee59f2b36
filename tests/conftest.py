"""Shared helpers for the framework's own tests."""
from __future__ import annotations

import os
import socketserver
import threading
from contextlib import contextmanager
from typing import Iterator, TypeVar

Server = TypeVar("Server", bound=socketserver.BaseServer)

# The framework's own tests drive pytest with pytester; users' runs never see its options or fixture.
pytest_plugins = ["pytester"]

# pytester's in-process runs forget every module the inner run imported. The report's charts import numpy
# lazily, and numpy cannot be imported a second time in one process; importing the charts here, once, keeps
# numpy loaded across inner runs.
try:
    import reports.charts  # noqa: F401
except ModuleNotFoundError:  # a core install without the charts extra: no chart is drawn, nothing to keep
    pass


def worker_index() -> int:
    """0 for a serial run, N for xdist worker gwN: tests derive addresses and instances from it."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """``server`` answering on a thread of its own; shut down, closed and joined however the test ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
