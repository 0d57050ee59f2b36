"""Traces of one Region: the documents as received, each trace's summary kept up to date on ingest.

A query (GetTraceSummaries) must stay fast over 100,000 spans, so nothing is rebuilt per query:
every document updates its trace's summary when it arrives (times, response time, fault/error
flags, the services it passed through), and traces are kept in the order of their id's second, so a
time range is two bisections. Whole traces (BatchGetTraces, the service graph) are assembled on
demand: independent subsegments are nested under their parent, wherever they arrived from.
"""
from __future__ import annotations

import bisect
import copy
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from stack.local.xray import documents
from stack.local.xray.documents import Document
from stack.local.xray.filters import Predicate

MAX_TRACES = 200_000  # the oldest traces go first beyond this (the stack is short-lived; AWS keeps 30 days)


@dataclass
class TraceRecord:
    """One trace: its documents by id and the summary GetTraceSummaries and the filters read."""

    trace_id: str
    epoch_s: int
    documents: dict[str, Document] = field(default_factory=dict)
    start_s: float = float("inf")
    end_s: float = 0.0
    response_time_s: float = 0.0
    root_id: str | None = None
    http_status: int | None = None
    http_url: str = ""
    http_method: str = ""
    fault: bool = False
    error: bool = False
    throttle: bool = False
    in_progress: bool = False
    services: frozenset[str] = frozenset()
    service_types: dict[str, str] = field(default_factory=dict)
    instances: set[str] = field(default_factory=set)
    zones: set[str] = field(default_factory=set)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    def add(self, document: Document) -> None:
        self.documents[document.id] = document
        self.start_s = min(self.start_s, document.start_s)
        self.end_s = max(self.end_s, document.end_s)
        # An in-progress segment is overwritten by its complete one (same id), as on X-Ray.
        self.in_progress = any(d.in_progress for d in self.documents.values())
        names = set(self.services)
        for body in documents.walk(document.body):
            self.fault = self.fault or bool(body.get("fault"))
            self.error = self.error or bool(body.get("error"))
            self.throttle = self.throttle or bool(body.get("throttle"))
            if documents.is_remote(body):
                names.add(str(body.get("name")))
                self.service_types.setdefault(str(body.get("name")), documents.remote_type(body))
        if document.is_segment:
            names.add(document.name)
            self.service_types.setdefault(document.name, str(document.body.get("origin") or "client"))
            ec2 = (document.body.get("aws") or {}).get("ec2") or {}
            if ec2.get("instance_id"):
                self.instances.add(str(ec2["instance_id"]))
            if ec2.get("availability_zone"):
                self.zones.add(str(ec2["availability_zone"]))
            self._entry(document)
        self.services = frozenset(names)

    def _entry(self, document: Document) -> None:
        """The entry point is the segment whose parent is not in the trace (the earliest such)."""
        parent = document.parent_id
        if parent is not None and any(parent in (d.id, *_nested_ids(d)) for d in self.documents.values()):
            return
        root = self.documents.get(self.root_id) if self.root_id else None
        if root is not None and root.start_s <= document.start_s and root.parent_id is None:
            return
        self.root_id = document.id
        self.response_time_s = document.end_s - document.start_s
        http = document.body.get("http") or {}
        self.http_status = (http.get("response") or {}).get("status")
        self.http_url = str((http.get("request") or {}).get("url") or "")
        self.http_method = str((http.get("request") or {}).get("method") or "")

    def assembled(self) -> list[dict[str, Any]]:
        """The trace's segments, each with its independent subsegments nested where their parent is."""
        segments = [copy.deepcopy(dict(d.body)) for d in self.documents.values() if d.is_segment]
        loose = [copy.deepcopy(dict(d.body)) for d in self.documents.values() if not d.is_segment]
        by_id: dict[str, dict[str, Any]] = {}
        for body in [*segments, *loose]:
            for node in documents.walk(body):
                by_id[str(node.get("id"))] = node  # type: ignore[assignment]
        orphans = []
        for body in sorted(loose, key=lambda b: float(b.get("start_time", 0))):
            parent = by_id.get(str(body.get("parent_id")))
            body.pop("trace_id", None)
            if parent is None:
                orphans.append(body)
                continue
            body.pop("type", None)
            body.pop("parent_id", None)
            parent.setdefault("subsegments", []).append(body)
        return segments + orphans


def _nested_ids(document: Document) -> Iterator[str]:
    for body in documents.walk(document.body):
        yield str(body.get("id"))


class TraceStore:
    """Every trace one Region received (thread-safe)."""

    def __init__(self, max_traces: int = MAX_TRACES) -> None:
        self.max_traces = max_traces
        self._traces: dict[str, TraceRecord] = {}
        self._order: list[tuple[int, str]] = []  # (trace id's second, trace id), sorted
        self._lock = threading.Lock()
        self.documents = 0

    def put(self, items: Iterable[Document]) -> None:
        with self._lock:
            for document in items:
                record = self._traces.get(document.trace_id)
                if record is None:
                    record = TraceRecord(document.trace_id, documents.trace_epoch_s(document.trace_id))
                    self._traces[document.trace_id] = record
                    key = (record.epoch_s, record.trace_id)
                    if not self._order or key >= self._order[-1]:
                        self._order.append(key)
                    else:
                        bisect.insort(self._order, key)
                record.add(document)
                self.documents += 1
            while len(self._order) > self.max_traces:
                _, oldest = self._order.pop(0)
                self._traces.pop(oldest, None)

    def find(self, start_s: float, end_s: float, predicate: Predicate, by_event: bool = False) -> list[TraceRecord]:
        """Every trace in [start_s, end_s] matching ``predicate``, oldest first (see ``page``)."""
        found, _, _ = self.page(start_s, end_s, predicate, by_event, 0, None)
        return found

    def page(self, start_s: float, end_s: float, predicate: Predicate, by_event: bool, cursor: int,
             limit: int | None) -> tuple[list[TraceRecord], int | None, int]:
        """Up to ``limit`` traces in [start_s, end_s] matching ``predicate``, scanning from ``cursor``.

        Returns them, the cursor to continue from (None at the end) and how many traces the range
        holds. The scan stops once the page is full, so a page costs what it takes to fill it, not
        the size of the range. The range is on the trace id's second (TimeRangeType TraceId) or,
        with ``by_event``, on the time of the trace's segments (TimeRangeType Event).
        """
        with self._lock:
            if by_event:
                keys = [(r.start_s, r.trace_id) for r in self._traces.values() if r.start_s <= end_s and r.end_s >= start_s]
                keys.sort()
                ids = [t for _, t in keys]
            else:
                low = bisect.bisect_left(self._order, (int(start_s), ""))
                high = bisect.bisect_right(self._order, (int(end_s), "~"))
                ids = [t for _, t in self._order[low:high]]
            traces = self._traces
        found: list[TraceRecord] = []
        position = cursor
        while position < len(ids):
            record = traces.get(ids[position])
            position += 1
            if record is not None and predicate(record):
                found.append(record)
                if limit is not None and len(found) >= limit:
                    break
        return found, (position if position < len(ids) else None), len(ids)

    def get(self, trace_ids: Iterable[str]) -> tuple[list[TraceRecord], list[str]]:
        """The traces found, and the ids not found."""
        found, missing = [], []
        with self._lock:
            for trace_id in trace_ids:
                record = self._traces.get(trace_id)
                (found.append(record) if record is not None else missing.append(trace_id))
        return found, missing

    def counts(self) -> Mapping[str, int]:
        with self._lock:
            return {"traces": len(self._traces), "documents": self.documents}
