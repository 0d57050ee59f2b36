"""Calling a function every few seconds on a daemon thread, until stopped.

The metrics publishers send their batch this way (and once more when stopped, so nothing recorded is left
unsent); the supervisor returns its freed heap this way (where a last call at stop would be wasted).
"""
from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """Calls ``call`` every ``every_s`` on a daemon thread; with ``final_call``, once more when stopped."""

    def __init__(self, call: Callable[[], object], every_s: float, name: str, final_call: bool = False) -> None:
        if every_s <= 0:
            raise ValueError(f"{name}: the period every_s must be > 0, got {every_s}")
        self._call, self.every_s, self.final_call = call, every_s, final_call
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Periodic":
        self._thread.start()
        return self

    def stop(self, join_s: float = 2.0) -> None:
        """Stop the thread (waiting up to ``join_s`` for a call in progress), then call once more if asked."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(join_s)
        if self.final_call:
            self._call()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._call()
