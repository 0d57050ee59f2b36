"""How long an edge keeps a response, what it is keyed by, and the cache itself.

The expiration rules are CloudFront's (developer guide, "Managing how long content stays in the
cache"): ``s-maxage``, else ``max-age``, else ``Expires``, clamped to the behaviour's [MinTTL, MaxTTL];
no such header: DefaultTTL; ``no-cache``, ``no-store`` or ``private``: not cached unless MinTTL > 0, then
MinTTL. Error responses CloudFront caches are kept for the error caching minimum TTL (10 s by
default) unless the origin says otherwise. TTLs are AWS seconds; the cache stores wall-clock expiry
through the environment's TimeScale, and ``Age`` is reported back in AWS seconds.
"""
from __future__ import annotations

import email.utils
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence
from urllib.parse import parse_qsl

from base.timescale import TimeScale
from stack.local.cloudfront.distribution import CachePolicy, KeyParts

CACHEABLE_STATUSES = frozenset({200, 203, 206, 300, 301, 410})
# The status codes CloudFront caches as errors (developer guide, "Caching error responses"), 10 s by default.
ERROR_STATUSES = frozenset({400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504})
ERROR_CACHING_MIN_TTL_S = 10.0
MAX_ENTRIES = 20_000
MAX_BYTES = 256 * 1024 * 1024

Headers = Sequence[tuple[str, str]]  # as received, in order; names as sent


def _directives(headers: Headers) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers:
        if name.lower() == "cache-control":
            for part in value.split(","):
                key, _, arg = part.strip().partition("=")
                if key:
                    found[key.lower()] = arg.strip().strip('"')
    return found


def _header(headers: Headers, wanted: str) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


def ttl_s(status: int, headers: Headers, policy: CachePolicy, now_epoch_s: float | None = None) -> float:
    """How long (AWS seconds) the edge keeps this origin response; 0 when it is not cached."""
    if status not in CACHEABLE_STATUSES and status not in ERROR_STATUSES:
        return 0.0
    directives = _directives(headers)
    if any(d in directives for d in ("no-cache", "no-store", "private")):
        return float(policy.min_ttl_s)
    declared: float | None = None
    for name in ("s-maxage", "max-age"):
        if name in directives:
            try:
                declared = max(0.0, float(directives[name]))
            except ValueError:
                declared = 0.0
            break
    if declared is None:
        expires = _header(headers, "expires")
        if expires is not None:
            parsed = email.utils.parsedate_to_datetime(expires) if _date_like(expires) else None
            now = time.time() if now_epoch_s is None else now_epoch_s
            declared = max(0.0, parsed.timestamp() - now) if parsed is not None else 0.0
    if status in ERROR_STATUSES:
        return declared if declared is not None else ERROR_CACHING_MIN_TTL_S
    if declared is None:
        return float(policy.default_ttl_s)
    return min(max(declared, policy.min_ttl_s), policy.max_ttl_s)


def _date_like(text: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(text) is not None
    except (TypeError, ValueError, IndexError):
        return False


def _cookies(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    found = []
    for part in headers.get("cookie", "").split(";"):
        name, eq, value = part.strip().partition("=")
        if name and eq:
            found.append((name, value))
    return found


def _select(pairs: Iterable[tuple[str, str]], behavior: str, names: frozenset[str]) -> tuple[tuple[str, str], ...]:
    if behavior == "all":
        chosen = list(pairs)
    elif behavior == "whitelist":
        chosen = [p for p in pairs if p[0] in names]
    elif behavior == "allExcept":
        chosen = [p for p in pairs if p[0] not in names]
    else:
        return ()
    return tuple(sorted(chosen))


def cache_key(distribution_id: str, path: str, query: str, headers: Mapping[str, str], key: KeyParts) -> tuple[object, ...]:
    """The cache key: the distribution, the path, and the query strings, headers and cookies the policy names.

    ``headers`` have lower-case names. GET and HEAD share an entry, as on CloudFront."""
    queries = _select(parse_qsl(query, keep_blank_values=True), key.query_behavior, key.query_names) if query else ()
    chosen_headers = tuple((h, headers.get(h, "")) for h in key.headers)
    cookies = _select(_cookies(headers), key.cookie_behavior, key.cookie_names) if key.cookie_behavior != "none" else ()
    return (distribution_id, path, queries, chosen_headers, cookies)


@dataclass(frozen=True)
class Entry:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored_at: float  # time.monotonic()
    expires_at: float  # time.monotonic()
    wire_head: bytes = b""  # what the server writes before its per-request headers (opaque here; a hit skips formatting)


class EdgeCache:
    """One edge location's cache: LRU, bounded in entries and bytes, purged by distribution and path."""

    def __init__(self, timescale: TimeScale, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._timescale = timescale
        self._clock = clock
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[object, ...], Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the loop reads and writes; invalidations purge from another thread

    def get(self, key: tuple[object, ...]) -> Entry | None:
        """The fresh entry for ``key``, or None (an expired one is dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires_at <= self._clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[object, ...], status: int, headers: Headers, body: bytes, ttl_aws_s: float,
            wire_head: bytes = b"") -> Entry | None:
        """Keep the response for ``ttl_aws_s`` AWS seconds; None when that is 0 (not cached)."""
        if ttl_aws_s <= 0 or len(body) > self._max_bytes // 8:
            return None
        now = self._clock()
        entry = Entry(status, tuple(headers), body, now, now + self._timescale.to_wall(ttl_aws_s), wire_head)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = entry
            self._bytes += len(body)
            while self._entries and (len(self._entries) > self._max_entries or self._bytes > self._max_bytes):
                self._drop(next(iter(self._entries)))
        return entry

    def age_s(self, entry: Entry) -> int:
        """The ``Age`` header's value: AWS seconds since the edge stored the entry."""
        return int(self._timescale.to_aws(max(0.0, self._clock() - entry.stored_at)))

    def purge(self, distribution_id: str, paths: Iterable[str]) -> int:
        """Drop the distribution's entries matching any invalidation path (``/a/*`` a prefix, else exact,
        every query/header variant); how many."""
        exact, prefixes = set(), []
        for path in paths:
            if path.endswith("*"):
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        with self._lock:
            doomed = [k for k in self._entries
                      if k[0] == distribution_id and (k[1] in exact or any(str(k[1]).startswith(p) for p in prefixes))]
            for key in doomed:
                self._drop(key)
        return len(doomed)

    def _drop(self, key: tuple[object, ...]) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.body)

    def __len__(self) -> int:
        return len(self._entries)
