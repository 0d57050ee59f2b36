"""What the fabric forwarded and denied, per link (source place -> destination subnet, port)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from stack.local.fabric.acl import Decision


@dataclass
class LinkStats:
    """Live counters of one link; mutated on the hot path, so plain attributes."""

    source: str  # subnet id, external source name, or "outside"
    destination: str  # subnet id of the exposed address, or "outside"
    port: int
    connections: int = 0
    denied_connections: int = 0  # connections whose first packet the NACLs denied
    stalls: int = 0  # times an open connection was cut (in either direction or both)
    bytes_upstream: int = 0  # source -> destination
    bytes_downstream: int = 0
    last_deny: dict[str, Any] | None = None

    def count_upstream(self, size: int) -> None:
        self.bytes_upstream += size

    def count_downstream(self, size: int) -> None:
        self.bytes_downstream += size

    def deny(self, direction: str, decision: Decision) -> None:
        """Record why a direction was denied."""
        self.last_deny = {"direction": direction, **decision.as_json(), "at": time.time()}

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "destination": self.destination, "port": self.port,
            "connections": self.connections, "denied_connections": self.denied_connections, "stalls": self.stalls,
            "bytes_upstream": self.bytes_upstream, "bytes_downstream": self.bytes_downstream,
            "last_deny": self.last_deny,
        }


class Stats:
    def __init__(self) -> None:
        self._links: dict[tuple[str, str, int], LinkStats] = {}

    def link(self, source: str, destination: str, port: int) -> LinkStats:
        key = (source, destination, port)
        stats = self._links.get(key)
        if stats is None:
            stats = self._links[key] = LinkStats(source, destination, port)
        return stats

    def as_json(self) -> list[dict[str, Any]]:
        return [s.as_json() for _, s in sorted(self._links.items())]
