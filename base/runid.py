"""The run id: one per game day, shared by the evidence pack, the tags on what the run creates, and FIS.

``GAMEDAY_RUN_ID`` wins, so a CI job can name the run once and find its evidence under
``reports/out/<run-id>/``; otherwise the first call makes one (``20250314T120003Z-1a2b3c``: sorts by
time, unique across concurrent runs) and every later call in the process returns the same.
"""
from __future__ import annotations

import os
import re
import secrets
import threading
from datetime import datetime, timezone

from base.errors import SettingsError

TAG = "gameday:run"  # every resource a run creates in an account carries it
_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_lock = threading.Lock()
_current: str | None = None


def new() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def valid(value: str) -> bool:
    """Whether ``value`` can be a run id (and so a tag value)."""
    return bool(_PATTERN.match(value))


def current() -> str:
    """This process's run id. Raises SettingsError when GAMEDAY_RUN_ID is not a usable tag value."""
    global _current
    with _lock:
        if _current is None:
            configured = os.environ.get("GAMEDAY_RUN_ID", "")
            if configured and not _PATTERN.match(configured):
                raise SettingsError(f"GAMEDAY_RUN_ID: {configured!r} is not allowed; use 1-64 letters, digits, '.', '_' "
                                    f"or '-', starting with a letter or digit")
            _current = configured or new()
        return _current
