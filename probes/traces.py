"""What X-Ray's traces say about a fault window: the slowest requests, the service graph, the bottleneck.

Read-only, through X-Ray's API like any user (the same calls work on AWS and on the local stack):
GetTraceSummaries lists checkout's traces in the window (health checks left out: they touch no
dependency), BatchGetTraces fetches them, GetServiceGraph gives the edges. Each trace's entry
segment is split into where its time went, by subsegment:

- ``reconnect``: resolving the database endpoint (``dns.resolve``) and opening a connection
  (an SQL subsegment whose query is ``connect``): what a failover costs a well-behaved client;
- ``queries``: the other SQL subsegments;
- one bucket per other remote node (the catalog table, ...);
- ``checkout``: the rest, time in the service itself.

Each subsegment is clipped to its segment (a thread abandoned at the deadline may end later), and
a bucket never counts the same instant twice. The bottleneck is the largest bucket over all the
window's traces, as a share of their summed response time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

FILTER = 'service("checkout") AND http.url != "/health"'
SLOWEST = 5
MAX_TRACES = 300  # the window's traces read in full (BatchGetTraces, 5 ids a call), slowest first
BATCH = 5
PHRASES = {
    "reconnect": "re-resolving and reconnecting to the database",
    "queries": "waiting on database queries",
    "checkout": "inside checkout itself (no dependency dominated)",
}


@dataclass(frozen=True)
class SlowTrace:
    trace_id: str
    region: str
    response_time_ms: float
    http: str  # "POST /orders 201"
    fault: bool
    error: bool
    breakdown_ms: Mapping[str, float]  # bucket -> milliseconds


@dataclass(frozen=True)
class GraphEdge:
    region: str
    source: str
    target: str
    target_type: str
    requests: int
    faults: int
    errors: int
    mean_ms: float


@dataclass(frozen=True)
class TraceEvidence:
    """Traces of one fault window (``unavailable`` says why there are none, e.g. no X-Ray)."""

    label: str
    start_s: float
    end_s: float
    traces: int = 0
    total_ms: float = 0.0
    buckets_ms: Mapping[str, float] = field(default_factory=dict)
    slowest: tuple[SlowTrace, ...] = ()
    graph: tuple[GraphEdge, ...] = ()
    unavailable: str = ""

    @property
    def bottleneck(self) -> tuple[str, float] | None:
        """(bucket, share of latency) of the largest bucket, or None without traces."""
        if not self.buckets_ms or self.total_ms <= 0:
            return None
        bucket, spent = max(self.buckets_ms.items(), key=lambda item: item[1])
        return bucket, spent / self.total_ms

    @property
    def sentence(self) -> str:
        """The bottleneck in one sentence, computed from the traces."""
        if self.unavailable:
            return f"no trace evidence for {self.label}: {self.unavailable}"
        found = self.bottleneck
        if found is None:
            return f"no checkout trace was recorded during {self.label}"
        bucket, share = found
        phrase = PHRASES.get(bucket, f"calling {bucket}")
        return (f"during {self.label}, {share:.0%} of checkout latency was spent {phrase} "
                f"({self.buckets_ms[bucket]:.0f} of {self.total_ms:.0f} ms over {self.traces} traced requests)")


def _bucket(body: Mapping[str, Any]) -> str | None:
    if body.get("name") == "dns.resolve":
        return "reconnect"
    sql = body.get("sql")
    if isinstance(sql, Mapping):
        return "reconnect" if sql.get("sanitized_query") == "connect" else "queries"
    if body.get("namespace") in ("remote", "aws"):
        return str(body.get("name"))
    return None


def _intervals(body: Mapping[str, Any], low: float, high: float, into: dict[str, list[tuple[float, float]]]) -> None:
    for child in body.get("subsegments") or ():
        bucket = _bucket(child)
        start = max(low, float(child.get("start_time", low)))
        end = min(high, float(child.get("end_time") or high))
        if bucket is not None:
            if end > start:
                into.setdefault(bucket, []).append((start, end))
        else:
            _intervals(child, low, high, into)  # a local subsegment: look inside it


def _union_s(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def breakdown(segment: Mapping[str, Any]) -> dict[str, float]:
    """Milliseconds of one entry segment per bucket (``checkout`` is what no dependency took)."""
    low, high = float(segment["start_time"]), float(segment.get("end_time") or segment["start_time"])
    found: dict[str, list[tuple[float, float]]] = {}
    _intervals(segment, low, high, found)
    spent = {bucket: _union_s(parts) * 1000 for bucket, parts in found.items()}
    everything = _union_s([p for parts in found.values() for p in parts]) * 1000
    spent["checkout"] = max(0.0, (high - low) * 1000 - everything)
    return spent


def _entry(segments: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    ids = {str(s.get("id")) for s in segments}
    roots = [s for s in segments if s.get("name") == "checkout" and str(s.get("parent_id")) not in ids]
    return min(roots, key=lambda s: float(s["start_time"])) if roots else None


def _summaries(client: Any, start_s: float, end_s: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("get_trace_summaries").paginate(
            StartTime=start_s, EndTime=end_s, FilterExpression=FILTER):
        found += page["TraceSummaries"]
    return found


def _graph(client: Any, region: str, start_s: float, end_s: float) -> list[GraphEdge]:
    services: list[dict[str, Any]] = []
    for page in client.get_paginator("get_service_graph").paginate(StartTime=start_s, EndTime=end_s):
        services += page["Services"]
    by_ref = {s["ReferenceId"]: s for s in services}
    edges = []
    for source in services:
        for edge in source.get("Edges") or ():
            target = by_ref.get(edge["ReferenceId"])
            if target is None:
                continue
            stats = edge.get("SummaryStatistics") or {}
            count = int(stats.get("TotalCount") or 0)
            edges.append(GraphEdge(region, source["Name"], target["Name"], str(target.get("Type", "")), count,
                                   int((stats.get("FaultStatistics") or {}).get("TotalCount") or 0),
                                   int((stats.get("ErrorStatistics") or {}).get("TotalCount") or 0),
                                   round(1000 * float(stats.get("TotalResponseTime") or 0) / count, 1) if count else 0.0))
    return edges


def collect(clients: Callable[[str, str], Any], regions: Iterable[str], start_s: float, end_s: float,
            label: str) -> TraceEvidence:
    """The trace evidence of [start_s, end_s] (epoch seconds) across ``regions``.

    Never raises for a missing or failing X-Ray: the evidence then says why it is unavailable.
    """
    try:
        return _collect(clients, list(regions), start_s, end_s, label)
    except Exception as error:  # noqa: BLE001 - evidence of a fault must not break the experiment it documents
        return TraceEvidence(label, start_s, end_s, unavailable=f"{type(error).__name__}: {error}")


def _collect(clients: Callable[[str, str], Any], regions: list[str], start_s: float, end_s: float,
             label: str) -> TraceEvidence:
    listed: list[tuple[str, dict[str, Any]]] = []
    edges: list[GraphEdge] = []
    for region in regions:
        client = clients("xray", region)
        listed += [(region, s) for s in _summaries(client, start_s, end_s)]
        edges += _graph(client, region, start_s, end_s)
    listed.sort(key=lambda item: -float(item[1].get("ResponseTime") or 0))
    buckets: dict[str, float] = {}
    total_ms, counted, slow = 0.0, 0, []
    for region in regions:
        chosen = [s["Id"] for r, s in listed[:MAX_TRACES] if r == region]
        client = clients("xray", region)
        for first in range(0, len(chosen), BATCH):
            for found in client.batch_get_traces(TraceIds=chosen[first:first + BATCH])["Traces"]:
                segments = [json.loads(s["Document"]) for s in found.get("Segments") or ()]
                entry = _entry(segments)
                if entry is None:
                    continue
                parts = breakdown(entry)
                response_ms = (float(entry.get("end_time") or entry["start_time"]) - float(entry["start_time"])) * 1000
                total_ms += response_ms
                counted += 1
                for bucket, ms in parts.items():
                    buckets[bucket] = buckets.get(bucket, 0.0) + ms
                http = entry.get("http") or {}
                slow.append(SlowTrace(found["Id"], region, round(response_ms, 1),
                                      " ".join(str(x) for x in ((http.get("request") or {}).get("method"),
                                                                (http.get("request") or {}).get("url"),
                                                                (http.get("response") or {}).get("status")) if x),
                                      bool(entry.get("fault")), bool(entry.get("error")),
                                      {k: round(v, 1) for k, v in parts.items() if v > 0}))
    slow.sort(key=lambda t: -t.response_time_ms)
    return TraceEvidence(label, start_s, end_s, counted, round(total_ms, 1), {k: round(v, 1) for k, v in buckets.items()},
                         tuple(slow[:SLOWEST]), tuple(sorted(edges, key=lambda e: (e.region, e.source, e.target))))
