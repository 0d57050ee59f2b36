"""Trace evidence from X-Ray's API: the breakdown of a request, and the bottleneck of a window."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from probes import traces
from tests.stack.local.xray.conftest import Stack, stack  # noqa: F401 - the fixture, shared
from tests.stack.local.xray.spans import DB_NODE, Tracer


def sub(name: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "id": "0" * 16, "start_time": start, "end_time": end, **extra}


def test_breakdown_clips_to_the_segment_and_never_counts_an_instant_twice() -> None:
    sql = {"namespace": "remote", "sql": {"sanitized_query": "connect"}}
    segment = sub("checkout", 100.0, 101.0, subsegments=[
        sub("dns.resolve", 100.0, 100.2),
        sub(DB_NODE, 100.1, 100.5, **sql),  # overlaps the DNS query: 0.5 s of reconnecting, not 0.6
        sub(DB_NODE, 100.6, 103.0, namespace="remote", sql={"sanitized_query": "INSERT orders"}),  # outlives it
        sub("local work", 100.5, 100.6, subsegments=[sub("catalog", 100.5, 100.55, namespace="aws")]),
    ])
    parts = traces.breakdown(segment)
    assert parts == pytest.approx({"reconnect": 500.0, "queries": 400.0, "catalog": 50.0, "checkout": 50.0})


def test_the_sentence_names_the_largest_bucket() -> None:
    evidence = traces.TraceEvidence("the failover", 0, 1, traces=4, total_ms=1000.0,
                                    buckets_ms={"reconnect": 920.0, "queries": 30.0, "checkout": 50.0})
    assert evidence.sentence == ("during the failover, 92% of checkout latency was spent re-resolving and "
                                 "reconnecting to the database (920 of 1000 ms over 4 traced requests)")
    assert "no checkout trace" in traces.TraceEvidence("the failover", 0, 1).sentence


@pytest.fixture
def tracer(stack: Stack) -> Iterator[Tracer]:  # noqa: F811
    made = Tracer(stack.url, region="eu-central-1")
    try:
        yield made
    finally:
        made.close()


def test_collect_finds_the_bottleneck_and_the_graph(stack: Stack, tracer: Tracer) -> None:  # noqa: F811
    start = time.time()
    slow = [tracer.checkout(dns_s=0.3, connect_s=0.5, query_s=0.01) for _ in range(3)]
    for _ in range(5):
        tracer.checkout(query_s=0.005)
    end = time.time()

    def clients(service: str, region: str) -> Any:
        assert service == "xray"
        return stack.client(region)

    evidence = traces.collect(clients, ["eu-central-1", "us-west-2"], start, end, "the failover")
    assert not evidence.unavailable
    assert evidence.traces == 8
    assert evidence.bottleneck is not None and evidence.bottleneck[0] == "reconnect"
    assert evidence.sentence.startswith("during the failover, ")
    assert {t.trace_id for t in evidence.slowest[:3]} == set(slow)
    assert evidence.slowest[0].breakdown_ms["reconnect"] == pytest.approx(800, abs=2)
    (edge,) = [e for e in evidence.graph if e.source == "checkout"]
    assert (edge.target, edge.target_type, edge.requests) == (DB_NODE, "Database::SQL", 3 * 2 + 5)


def test_collect_says_why_when_xray_cannot_answer() -> None:
    def clients(service: str, region: str) -> Any:
        raise ConnectionError("no X-Ray here")

    evidence = traces.collect(clients, ["us-east-1"], 0, 1, "the failover")
    assert evidence.unavailable == "ConnectionError: no X-Ray here"
    assert evidence.sentence == "no trace evidence for the failover: ConnectionError: no X-Ray here"
