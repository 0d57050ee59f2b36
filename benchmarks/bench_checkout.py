"""Checkout latency at steady state (GET /health, POST /orders) and one checkout process's memory.

One Region, one instance, a real PostgreSQL (Debian's 15, as `postgres`) behind a DNS name served by
a tiny authoritative nameserver, exactly as the EC2 part runs it. Requests go straight to the
service's Unix socket over one keep-alive connection, one at a time: the figures are the service's
own latency (HTTP parsing, routing, the database round trip and commit). The fabric's overhead
(TCP hop, NACL checks, inter-Region delay) is measured separately by benchmarks/bench_fabric.py.

Prints one JSON object. Bounded: at most REQUESTS per endpoint and DEADLINE_S in all.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stack.local.ec2 import unixhttp  # noqa: E402
from tests.stack.local.ec2 import postgres  # noqa: E402
from tests.stack.local.ec2.rig import Rig  # noqa: E402

WARMUP = 200
REQUESTS = 2000
DEADLINE_S = 45.0
GOALS = {
    # The service's share of the environment's checkout SLO (p95 250 ms from a vantage point, most of
    # which is network RTT): it must stay small and steady for RTT-driven measurements to mean anything.
    "health_p99_ms": 5.0,
    "orders_p99_ms": 20.0,
    "rss_mib": 80.0,
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(connection: unixhttp.UnixHTTPConnection, method: str, path: str, body: object, count: int,
            deadline: float, expect: int) -> list[float]:
    samples = []
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter_ns()
        reply = unixhttp.request(connection, method, path, body)
        samples.append((time.perf_counter_ns() - started) / 1e6)
        if reply.status != expect:
            raise SystemExit(f"{method} {path} answered {reply.status}: {reply.body}")
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {"count": len(samples), "p50_ms": round(percentile(samples, 0.50), 3),
            "p99_ms": round(percentile(samples, 0.99), 3), "mean_ms": round(statistics.fmean(samples), 3),
            "max_ms": round(max(samples), 3)}


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def main() -> int:
    reason = postgres.available()
    if reason:
        print(json.dumps({"benchmark": "checkout", "skipped": reason}))
        return 0
    deadline = time.monotonic() + DEADLINE_S
    pid = os.getpid()
    base = f"127.{150 + pid % 20}.{(pid // 20) % 250}"
    cluster = postgres.Cluster()
    try:
        with Rig(cluster, base) as rig:
            database = rig.start_database(fsync="on")  # commits reach the disk, as on RDS
            checkout = rig.start_checkout(rig.nameserver(database.address, ttl_s=1))
            connection = unixhttp.UnixHTTPConnection(checkout.launch.uds, timeout_s=10)
            order = {"sku": "SC-TEE-001", "quantity": 1}
            measure(connection, "GET", "/health", None, WARMUP, deadline, 200)
            measure(connection, "POST", "/orders", order, WARMUP, deadline, 201)
            health = measure(connection, "GET", "/health", None, REQUESTS, deadline, 200)
            orders = measure(connection, "POST", "/orders", order, REQUESTS, deadline, 201)
            connection.close()
            assert checkout.pid is not None
            memory = memory_kib(checkout.pid)
    finally:
        cluster.remove()
    result = {
        "benchmark": "checkout",
        "setup": "one checkout process (uvicorn + httptools + uvloop, one worker), PostgreSQL 15 on loopback (fsync on), "
                 "sequential requests over one keep-alive Unix-socket connection; fabric overhead excluded "
                 "(see bench_fabric)",
        "health": summary(health),
        "orders": summary(orders),
        "rss_mib": round(memory["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(memory["VmHWM"] / 1024, 1),
        "goals": GOALS,
        "met": {
            "health_p99_ms": percentile(health, 0.99) <= GOALS["health_p99_ms"],
            "orders_p99_ms": percentile(orders, 0.99) <= GOALS["orders_p99_ms"],
            "rss_mib": memory["VmRSS"] / 1024 <= GOALS["rss_mib"],
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
