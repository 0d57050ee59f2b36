"""The warehouse probe: what the warehouse service acknowledged, what the inventory API stored, and the
failover figures computed from them.

The warehouse service records each acknowledged transaction (id, when first sent, when acknowledged, the
latency of the attempt that was acknowledged, attempts); the inventory API lists the ids it stored. Both
are read over HTTP like any client (the service's control API on its site address, the inventory API in
the Region); nothing is read from the emulator.

- **RTO**: from the fault to the first acknowledgement after it: the transaction in flight when the link
  died is acknowledged once BGP moved the traffic (the held bytes arrive over the backup, or the client's
  retry does).
- **latency per path**: the median latency of transactions acknowledged at their first attempt, in a window.
- **lost**: acknowledged ids the inventory does not hold; **duplicates**: retries the inventory recognised.
"""
from __future__ import annotations

import json
import statistics
import urllib.request
from dataclasses import dataclass
from typing import Any, Sequence

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Ack:
    id: str
    sent_at: float
    acked_at: float
    latency_ms: float
    attempts: int


class Warehouse:
    """The warehouse service's control API (``control``), its router (``router``) and the inventory API."""

    def __init__(self, control: tuple[str, int], router: tuple[str, int], inventory: tuple[str, int]) -> None:
        self.control, self.router, self.inventory = control, router, inventory

    @staticmethod
    def _call(address: tuple[str, int], method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://{address[0]}:{address[1]}{path}", data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.load(response)

    def start(self, rate_per_s: float) -> None:
        self._call(self.control, "POST", "/start", {"rate_per_s": rate_per_s})

    def stop(self) -> None:
        self._call(self.control, "POST", "/stop", {})

    def acks(self) -> list[Ack]:
        return [Ack(**item) for item in self._call(self.control, "GET", "/status")["acked"]]

    def set_bfd(self, link: str, enabled: bool) -> None:
        self._call(self.router, "POST", "/bfd", {"link": link, "enabled": enabled})

    def stored(self) -> tuple[set[str], int]:
        """The ids the inventory holds, and how many retries it recognised as already stored."""
        found = self._call(self.inventory, "GET", "/transactions")
        return set(found["ids"]), int(found["duplicates"])


def first_ack_after(acks: Sequence[Ack], at: float) -> Ack | None:
    return next((a for a in sorted(acks, key=lambda a: a.acked_at) if a.acked_at > at), None)


def median_latency_ms(acks: Sequence[Ack], start: float, end: float) -> float | None:
    """The median latency of the transactions first sent in [start, end) and acknowledged at their first attempt."""
    chosen = [a.latency_ms for a in acks if start <= a.sent_at < end and a.attempts == 1]
    return statistics.median(chosen) if chosen else None


def lost(acks: Sequence[Ack], stored: set[str]) -> list[str]:
    return sorted({a.id for a in acks} - stored)
