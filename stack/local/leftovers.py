"""Find and stop processes a crashed stack left behind, by the marker in their environment.

PostgreSQL's postmaster leaves the supervisor's session, so process groups are not enough; the
environment variable survives every fork and exec, and /proc shows it to root and to the owner.
"""
from __future__ import annotations

import os
from pathlib import Path

from stack.local import process as executor


def _marked(variable: str, value: str) -> list[tuple[int, str]]:
    needle = f"{variable}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append((int(entry.name), (entry / "comm").read_text().strip()))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found


def kill_marked(variable: str, value: str, grace_s: float = 3.0) -> list[tuple[int, str]]:
    """SIGTERM every marked process, then SIGKILL what is still there after ``grace_s``."""
    victims = _marked(variable, value)
    executor.stop_pids([pid for pid, _ in victims], lambda: [pid for pid, _ in _marked(variable, value)], grace_s)
    return victims
