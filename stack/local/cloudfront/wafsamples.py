"""Sampled web requests per rule metric name, and GetSampledRequests' answer from them.

WAF keeps a sample of the requests each rule (and the web ACL) saw, and GetSampledRequests returns
up to MaxItems (at most 500) of them from a time range within the last three hours, with the
population size: how many requests that rule saw in the range. Here every request is kept (up to
``KEEP`` per metric, the newest), so the sample is the first MaxItems of the range and each has
Weight 1; the population counts the kept requests in the range.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from stack.local.cloudfront.wafrules import WebRequest

KEEP = 5000  # GetSampledRequests samples "from among the first 5,000 requests" in the range
MAX_ITEMS = 500  # botocore's wafv2 model: ListMaxItems max 500
HORIZON_S = 3 * 3600  # "any time range in the previous three hours"


@dataclass(frozen=True)
class Sample:
    request: WebRequest
    action: str  # ALLOW, BLOCK or COUNT
    rule: str
    status: int


class Samples:
    def __init__(self, wall_time: Callable[[], float]) -> None:
        self._wall_time = wall_time
        self._lock = threading.Lock()
        self._kept: dict[str, deque[tuple[float, Sample]]] = {}

    def add(self, metric: str, sample: Sample) -> None:
        with self._lock:
            self._kept.setdefault(metric, deque(maxlen=KEEP)).append((self._wall_time(), sample))

    def answer(self, metric: str, start: float, end: float, max_items: int) -> dict[str, Any]:
        """GetSampledRequests' response body for ``metric`` between epoch seconds ``start`` and ``end``."""
        start = max(start, self._wall_time() - HORIZON_S)
        with self._lock:
            found = [(when, sample) for when, sample in self._kept.get(metric, ()) if start <= when <= end]
        return {
            "SampledRequests": [_shown(when, sample) for when, sample in found[:max(0, min(max_items, MAX_ITEMS))]],
            "PopulationSize": len(found),
            "TimeWindow": {"StartTime": start, "EndTime": end},
        }


def _shown(when: float, sample: Sample) -> dict[str, Any]:
    request = sample.request
    path = request.uri_path + (f"?{request.query}" if request.query else "")
    shown: dict[str, Any] = {
        "Request": {"ClientIP": request.source_ip, "Country": request.country, "URI": path, "Method": request.method,
                    "HTTPVersion": "HTTP/1.1", "Headers": [{"Name": k, "Value": v} for k, v in request.headers.items()]},
        "Weight": 1,
        "Timestamp": when,
        "Action": sample.action,
    }
    if sample.action == "BLOCK":
        shown["ResponseCodeSent"] = sample.status
    return shown
