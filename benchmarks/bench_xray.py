"""X-Ray through OpenTelemetry: what tracing costs checkout, and how fast the local X-Ray takes and answers.

1. checkout p50 with tracing on against off: two checkout processes on one PostgreSQL (as
   bench_checkout runs them), one exporting its spans by OTLP/HTTP to the xray part, one untraced;
   POST /orders over a keep-alive Unix-socket connection, the two measured in alternating rounds so
   drift on a shared machine hits both alike. Also each process's RSS: what tracing adds.
2. spans ingested per second: OTLP/HTTP protobuf exports of 512 spans (traces of 5 spans, as
   checkout's orders make them) posted by 4 threads to the endpoint's /v1/traces.
3. GetTraceSummaries over 100,000 spans: the time of one call (boto3, first page) over the whole
   window, with and without a filter expression.

The endpoint is the control plane with the xray part, in this process, on the instance's control
address (GAMEDAY_INSTANCE) and a free port. Prints one JSON object; bounded by REQUESTS, SPANS and DEADLINE_S.
"""
from __future__ import annotations

import json
import logging
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchinstance import bench_instance  # noqa: E402  (beside this script)
import boto3  # noqa: E402
import requests  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: E402

from stack.local.controlplane.app import ControlPlane  # noqa: E402
from stack.local.ec2 import unixhttp  # noqa: E402
from stack.local.endpoint import AwsEndpoint  # noqa: E402
from stack.local.part import LOCAL_CREDENTIALS  # noqa: E402
from stack.local.xray.part import XRayPart  # noqa: E402
from tests.stack.local.ec2 import postgres  # noqa: E402
from tests.stack.local.ec2.rig import Rig  # noqa: E402

WARMUP = 100
ROUNDS = 10
PER_ROUND = 100
SPANS = 100_000
BATCH = 512
SENDERS = 4
DEADLINE_S = 120.0
GOALS = {"traced_p50_slowdown": 0.10, "spans_per_s": 5000.0, "summaries_ms": 200.0}
ORDER = {"sku": "SC-TEE-001", "quantity": 1}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def orders(connection: unixhttp.UnixHTTPConnection, count: int, deadline: float) -> list[float]:
    samples = []
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter_ns()
        reply = unixhttp.request(connection, "POST", "/orders", ORDER)
        samples.append((time.perf_counter_ns() - started) / 1e6)
        if reply.status != 201:
            raise SystemExit(f"POST /orders answered {reply.status}: {reply.body}")
    return samples


def checkout_overhead(endpoint_url: str, deadline: float) -> dict[str, Any]:
    reason = postgres.available()
    if reason:
        return {"skipped": reason}
    pid = os.getpid()
    cluster = postgres.Cluster()
    try:
        with Rig(cluster, f"127.{150 + pid % 20}.{(pid // 20) % 250}") as rig:
            database = rig.start_database(fsync="on")
            nameserver = rig.nameserver(database.address, ttl_s=1)
            plain = rig.start_checkout(nameserver)
            traced = rig.start_checkout(nameserver, otlp_endpoint=f"{endpoint_url}/v1/traces")
            connections = {name: unixhttp.UnixHTTPConnection(p.launch.uds, timeout_s=10)
                           for name, p in (("off", plain), ("on", traced))}
            for connection in connections.values():
                orders(connection, WARMUP, deadline)
            samples: dict[str, list[float]] = {"off": [], "on": []}
            for number in range(ROUNDS):
                for name in (("off", "on") if number % 2 == 0 else ("on", "off")):
                    samples[name] += orders(connections[name], PER_ROUND, deadline)
            for connection in connections.values():
                connection.close()
            assert plain.pid is not None and traced.pid is not None
            memory = {"off": rss_mib(plain.pid), "on": rss_mib(traced.pid)}
    finally:
        cluster.remove()
    p50 = {name: percentile(s, 0.5) for name, s in samples.items()}
    return {"requests_each": len(samples["on"]), "p50_ms": {k: round(v, 3) for k, v in p50.items()},
            "p99_ms": {k: round(percentile(s, 0.99), 3) for k, s in samples.items()},
            "mean_ms": {k: round(statistics.fmean(s), 3) for k, s in samples.items()},
            "slowdown": round(p50["on"] / p50["off"] - 1, 4),
            "rss_mib": memory, "rss_added_by_tracing_mib": round(memory["on"] - memory["off"], 1)}


def payloads(count: int) -> list[bytes]:
    """OTLP requests of BATCH spans: traces of a server span and 4 children, X-Ray ids, recent times."""
    rng = random.Random(7)
    out, spans = [], 0
    now_ns = time.time_ns()
    while spans < count:
        message = ExportTraceServiceRequest()
        resource = message.resource_spans.add()
        for key, value in (("service.name", "checkout"), ("cloud.region", "us-east-1"), ("cloud.platform", "aws_ec2")):
            attribute = resource.resource.attributes.add()
            attribute.key, attribute.value.string_value = key, value
        scope = resource.scope_spans.add()
        while len(scope.spans) < BATCH and spans < count:
            trace_id = int(now_ns // 1e9).to_bytes(4, "big") + rng.randbytes(12)
            start = now_ns - rng.randrange(0, 60_000_000_000)
            duration = rng.randrange(1_000_000, 900_000_000)
            root = scope.spans.add(trace_id=trace_id, span_id=rng.randbytes(8), name="POST /orders",
                                   kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start,
                                   end_time_unix_nano=start + duration)
            status = root.attributes.add()
            status.key, status.value.int_value = "http.response.status_code", rng.choice((201, 201, 201, 503))
            for number, name in enumerate(("dns.resolve", "connect", "INSERT orders", "SELECT orders")):
                child = scope.spans.add(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root.span_id,
                                        name=name, kind=Span.SPAN_KIND_CLIENT if number else Span.SPAN_KIND_INTERNAL,
                                        start_time_unix_nano=start + number * duration // 5,
                                        end_time_unix_nano=start + (number + 1) * duration // 5)
                if number:
                    for key, value in (("db.system.name", "postgresql"), ("db.namespace", "securecart"),
                                       ("server.address", "orders.db.securecart.example")):
                        attribute = child.attributes.add()
                        attribute.key, attribute.value.string_value = key, value
            spans += 5
        out.append(message.SerializeToString())
    return out


def ingest(endpoint_url: str, bodies: list[bytes]) -> dict[str, Any]:
    queue = list(bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def send() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                answer = session.post(f"{endpoint_url}/v1/traces", data=body, timeout=30,
                                      headers={"Content-Type": "application/x-protobuf"})
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} exports failed, first: {failures[0]}")
    spans = sum(len(ExportTraceServiceRequest.FromString(b).resource_spans[0].scope_spans[0].spans) for b in bodies)
    return {"spans": spans, "requests": len(bodies), "seconds": round(elapsed, 3), "spans_per_s": round(spans / elapsed)}


def summaries(endpoint_url: str) -> dict[str, Any]:
    client = boto3.session.Session(**LOCAL_CREDENTIALS).client("xray", region_name="us-east-1",
                                                               endpoint_url=endpoint_url)
    now = time.time()
    timings: dict[str, Any] = {}
    for label, expression in (("unfiltered", None), ("filtered", 'service("checkout") AND responsetime > 0.5 AND !fault')):
        params: dict[str, Any] = {"StartTime": now - 300, "EndTime": now + 60}
        if expression:
            params["FilterExpression"] = expression
        client.get_trace_summaries(**params)  # the first call pays for the client's set-up
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            answer = client.get_trace_summaries(**params)
            runs.append((time.perf_counter() - started) * 1000)
        timings[label] = {"median_ms": round(statistics.median(runs), 1), "max_ms": round(max(runs), 1),
                          "traces_processed": answer["TracesProcessedCount"],
                          "page": len(answer["TraceSummaries"]), "expression": expression}
    return timings


def main() -> int:
    logging.disable(logging.INFO)
    deadline = time.monotonic() + DEADLINE_S
    instance = bench_instance()
    host = "127.0.0.1" if instance == 0 else f"127.0.{instance}.1"
    plane = ControlPlane(logging.getLogger("bench.controlplane"))
    part = XRayPart()
    plane.attach(part)
    endpoint = AwsEndpoint(plane, host, 0)
    endpoint.start()
    try:
        overhead = checkout_overhead(endpoint.url, deadline)
        bodies = payloads(SPANS)
        ingested = ingest(endpoint.url, bodies)
        stored = dict(part.api.store("us-east-1").counts())
        queried = summaries(endpoint.url)
    finally:
        endpoint.stop()
    worst_ms = max(q["median_ms"] for q in queried.values())
    result = {
        "benchmark": "xray",
        "setup": "checkout: two processes on one PostgreSQL 15 (fsync on), traced vs untraced, alternating rounds; "
                 f"ingest: {SENDERS} threads posting OTLP/HTTP protobuf batches of {BATCH} spans; queries: boto3, "
                 "median of 5; the endpoint (control plane + xray part) runs in this process",
        "checkout": overhead,
        "ingest": ingested,
        "stored": stored,
        "get_trace_summaries": queried,
        "goals": GOALS,
        "met": {
            "traced_p50_slowdown": "slowdown" in overhead and overhead["slowdown"] <= GOALS["traced_p50_slowdown"],
            "spans_per_s": ingested["spans_per_s"] >= GOALS["spans_per_s"],
            "summaries_ms": worst_ms <= GOALS["summaries_ms"],
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
