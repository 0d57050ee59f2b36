"""What the Route 53 part's refresher must re-read: the scope of the changes notified since its last refresh."""
from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """What a refresh must re-read."""

    everything: bool = False
    zones: frozenset[str] = frozenset()
    checks: bool = False

    def __or__(self, other: Scope) -> Scope:
        return Scope(self.everything or other.everything, self.zones | other.zones, self.checks or other.checks)


class Dirty:
    """What changed since the last refresh (thread-safe); starts as everything."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scope = Scope(everything=True)

    def add(self, scope: Scope) -> None:
        with self._lock:
            self._scope = self._scope | scope

    def take(self) -> Scope:
        with self._lock:
            scope, self._scope = self._scope, Scope()
            return scope
