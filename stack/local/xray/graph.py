"""The service graph (GetServiceGraph) of a set of traces: nodes, edges and their statistics.

A segment is a node named after its service; the entry segment of a trace also gets an edge from a
``client`` node (the callers X-Ray cannot see). A remote subsegment (``namespace`` remote or aws) is
an edge from its segment's node: to the segment its call reached, when that segment is in the trace
(its ``parent_id`` is the subsegment), otherwise to a node named after the subsegment (a database,
a DynamoDB table). Statistics count ok, error, fault and throttle, with the total response time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from stack.local.xray import documents
from stack.local.xray.store import TraceRecord

CLIENT = ("client", "client")


@dataclass
class _Stats:
    ok: int = 0
    error: int = 0
    throttle: int = 0
    fault: int = 0
    total_s: float = 0.0
    histogram: dict[float, int] = field(default_factory=dict)
    first_s: float = float("inf")
    last_s: float = 0.0

    def add(self, body: Mapping[str, Any]) -> None:
        start, end = float(body.get("start_time", 0)), float(body.get("end_time") or body.get("start_time", 0))
        if body.get("fault"):
            self.fault += 1
        elif body.get("throttle"):
            self.throttle += 1
        elif body.get("error"):
            self.error += 1
        else:
            self.ok += 1
        self.total_s += end - start
        bucket = round(end - start, 3)
        self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
        self.first_s, self.last_s = min(self.first_s, start), max(self.last_s, end)

    def as_json(self) -> dict[str, Any]:
        return {"OkCount": self.ok,
                "ErrorStatistics": {"ThrottleCount": self.throttle, "OtherCount": self.error,
                                    "TotalCount": self.error + self.throttle},
                "FaultStatistics": {"OtherCount": self.fault, "TotalCount": self.fault},
                "TotalCount": self.ok + self.error + self.throttle + self.fault,
                "TotalResponseTime": round(self.total_s, 6)}

    def histogram_json(self) -> list[dict[str, Any]]:
        return [{"Value": value, "Count": count} for value, count in sorted(self.histogram.items())]


def service_graph(traces: Iterable[TraceRecord], account_id: str) -> list[dict[str, Any]]:
    """The ``Services`` of GetServiceGraph for ``traces`` (times in epoch seconds, as rest-json carries them)."""
    nodes: dict[tuple[str, str], _Stats] = {}
    edges: dict[tuple[tuple[str, str], tuple[str, str]], _Stats] = {}
    for record in traces:
        segments = record.assembled()
        segment_of_parent = {str(s.get("parent_id")): s for s in segments if s.get("parent_id")}
        for segment in segments:
            if segment.get("type") == "subsegment":
                continue  # an orphan whose segment has not arrived
            node = (str(segment["name"]), str(segment.get("origin") or "client"))
            nodes.setdefault(node, _Stats()).add(segment)
            if segment.get("id") == record.root_id:
                nodes.setdefault(CLIENT, _Stats())
                edges.setdefault((CLIENT, node), _Stats()).add(segment)
            for body in documents.walk(segment):
                if body is segment or not documents.is_remote(body):
                    continue
                reached = segment_of_parent.get(str(body.get("id")))
                if reached is not None:
                    target = (str(reached["name"]), str(reached.get("origin") or "client"))
                else:
                    target = (str(body.get("name")), documents.remote_type(body))
                    nodes.setdefault(target, _Stats()).add(body)
                edges.setdefault((node, target), _Stats()).add(body)
    references = {node: number for number, node in enumerate(sorted(nodes))}
    services = []
    for node, stats in sorted(nodes.items()):
        name, kind = node
        entry: dict[str, Any] = {
            "ReferenceId": references[node], "Name": name, "Names": [name], "Type": kind, "State": "active",
            "Root": node == CLIENT, "Edges": [],
        }
        if node != CLIENT:
            entry.update(AccountId=account_id, StartTime=stats.first_s, EndTime=stats.last_s,
                         SummaryStatistics=stats.as_json(), ResponseTimeHistogram=stats.histogram_json(),
                         DurationHistogram=stats.histogram_json())
        for (source, target), edge in sorted(edges.items()):
            if source != node:
                continue
            entry["Edges"].append({
                "ReferenceId": references[target], "StartTime": edge.first_s, "EndTime": edge.last_s,
                "SummaryStatistics": edge.as_json(), "ResponseTimeHistogram": edge.histogram_json(), "Aliases": [],
            })
        if node == CLIENT and entry["Edges"]:
            entry["StartTime"] = min(e["StartTime"] for e in entry["Edges"])
            entry["EndTime"] = max(e["EndTime"] for e in entry["Edges"])
        services.append(entry)
    return services
