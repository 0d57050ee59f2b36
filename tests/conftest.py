"""Shared helpers for the framework's own tests."""
from __future__ import annotations

import os

# The framework's own tests drive pytest with pytester; users' runs never see its options or fixture.
pytest_plugins = ["pytester"]


def worker_index() -> int:
    """0 for a serial run, N for xdist worker gwN: tests derive addresses and instances from it."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
