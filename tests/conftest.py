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


SPARE_INSTANCE = 9  # the second stack of the supervisor's side-by-side test, whichever worker runs it


def lifecycle_instance(honour_named: bool = False) -> int:
    """The local stack instance of this worker's tests that start parts themselves: 7 serially and on gw0, 8 on gw1.

    The supervisor's lifecycle tests and the RDS and DynamoDB isolation worlds share it: on one worker they run
    one after another, while an instance per test kind let one worker's isolation world meet the other
    worker's supervisor stack (same addresses, same nftables table). With ``honour_named``, a serial run takes
    the instance GAMEDAY_INSTANCE names (a shared machine's own).
    """
    named = os.environ.get("GAMEDAY_INSTANCE", "")
    if honour_named and "PYTEST_XDIST_WORKER" not in os.environ and named.isdigit():
        return int(named)
    return 7 + worker_index() % 2


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
