"""A WAFv2 rate-based rule: requests counted per IP over the evaluation window, checked every 10 s.

WAF does not decide per request: it counts each aggregation key's requests over the last
EvaluationWindowSec (60, 120, 300 or 600 s) and, about every 10 s, puts the keys over the Limit on
its list (and takes off those back under it). A request matches the rule while its key is on the
list. So an attacker gets through for up to one check interval after crossing the limit, and a key
stays blocked until a check finds it under: both are reproduced, on the scaled clock.

Counting is by source IP (AggregateKeyType IP), over the requests that match the scope-down
statement when there is one. The window and the check interval are AWS seconds turned into wall
seconds by the environment's time scale; the limit is a count of requests and is not scaled.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Mapping

from stack.local.cloudfront.wafrules import Matcher, Unsupported, WebRequest

WINDOWS_S = (60, 120, 300, 600)
DEFAULT_WINDOW_S = 300
CHECK_INTERVAL_S = 10.0  # "WAF checks the rate about every 10 seconds" (the API reference, RateBasedStatement)
MIN_LIMIT = 10  # botocore's wafv2 model: RateLimit min 10


class RateRule:
    """One rate-based statement's state. ``to_wall`` turns AWS seconds into wall seconds."""

    def __init__(self, statement: Mapping[str, Any], scope_down: Matcher | None, clock: Callable[[], float],
                 to_wall: Callable[[float], float]) -> None:
        key = str(statement.get("AggregateKeyType", "IP"))
        if key != "IP":
            raise Unsupported(f"RateBasedStatement.AggregateKeyType {key!r} is not emulated; emulated: IP")
        self.limit = int(statement["Limit"])
        window = int(statement.get("EvaluationWindowSec", DEFAULT_WINDOW_S))
        if window not in WINDOWS_S or self.limit < MIN_LIMIT:
            raise Unsupported(f"RateBasedStatement Limit {self.limit} / EvaluationWindowSec {window}: the limit is at least "
                              f"{MIN_LIMIT} and the window one of {WINDOWS_S}")
        self.window_s = window
        self._window = to_wall(window)
        self._interval = to_wall(CHECK_INTERVAL_S)
        self._scope_down = scope_down
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._listed: frozenset[str] = frozenset()
        self._next_check = clock() + self._interval

    def __call__(self, request: WebRequest) -> bool:
        if self._scope_down is not None and not self._scope_down(request):
            return False
        now = self._clock()
        with self._lock:
            self._seen.setdefault(request.source_ip, deque()).append(now)
            if now >= self._next_check:
                self._check(now)
            return request.source_ip in self._listed

    def _check(self, now: float) -> None:
        """WAF's periodic check: list the keys over the limit in the window just ended, forget old requests."""
        horizon = now - self._window
        listed = set()
        for key in list(self._seen):
            times = self._seen[key]
            while times and times[0] <= horizon:
                times.popleft()
            if not times:
                del self._seen[key]
            elif len(times) > self.limit:
                listed.add(key)
        self._listed = frozenset(listed)
        # The next check is on the 10 s grid, however long the edge was idle.
        missed = int((now - self._next_check) // self._interval) + 1
        self._next_check += missed * self._interval

    def listed(self) -> frozenset[str]:
        """The keys over the limit at the last check (GetRateBasedStatementManagedKeys)."""
        with self._lock:
            return self._listed
