"""DynamoDB global tables: replication latency per Region pair, sustained replicated writes, memory.

Runs the control plane and the DynamoDB part in this process on stack instance $GAMEDAY_INSTANCE
(default 8; a free endpoint port), at the environment's time scale, with one global table whose
replicas are in the environment's four Regions. Prints one JSON object.

    GAMEDAY_INSTANCE=8 .venv/bin/python benchmarks/bench_dynamodb.py [--seconds 10] [--threads 4] [--items 100000]

Figures:
- latency: for each (source, receiving) pair, p50/p99 of the replicator's own measure (from the
  source write's stamp to the moment the target holds it), under a light load (--probe-writes
  PutItems per source Region, one at a time), against the modelled delay (RTT + scaled processing);
  goal: p99 within 50 ms of the modelled delay;
- throughput: --threads client processes, one per Region in turn, each sending BatchWriteItem calls
  of 25 new items through the local endpoint, one after the other, for --seconds; item writes/s accepted, deliveries/s
  applied (three per item: four replicas), the replicator's backlog sampled every 0.5 s, and the time
  it takes to drain after the load stops (it keeps up when the backlog does not grow and drains
  within the modelled delay plus a little); goal: >= 2,000 item writes/s;
- memory: PSS of this process (the control plane and the part, as in the supervisor) before the
  table is made and once it holds --items items in each of the four replicas.
Bounded: each phase has a deadline; the JSON says when one was hit.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchinstance import bench_instance
import boto3
from botocore.config import Config

from environments import loader
from environments.model import LocalEnvironment, LocalSettings
from stack.local.controlplane.app import ControlPlane
from stack.local.dynamodb.part import DynamoDbPart
from stack.local.dynamodb.replicator import Delivery
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext

LATENCY_GOAL_MS = 50.0
WRITES_GOAL_PER_S = 2000.0
BATCH = 25  # BatchWriteItem's limit (botocore: WriteRequests max 25)
PROBE_WRITES = 50
DRAIN_LIMIT_S = 60.0


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def pss_mib() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def count(client: Any, table: str) -> int:
    """The items in a replica: Scan with Select COUNT, every page (a page stops at 1 MB)."""
    return sum(page["Count"] for page in client.get_paginator("scan").paginate(TableName=table, Select="COUNT"))


def growing(backlog: list[int]) -> bool:
    """Whether the second half of the samples is well above the first (the replicator falling behind)."""
    half = len(backlog) // 2
    return bool(backlog[half:]) and statistics.mean(backlog[half:]) > 1.5 * max(1.0, statistics.mean(backlog[:half] or [0]))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Bench:
    def __init__(self, number: int) -> None:
        base = loader.load("local")
        assert isinstance(base, LocalEnvironment)
        self.host = f"127.0.{number}.1"
        port = free_port(self.host)
        # Replicas are ACTIVE after 0.1 s: their creation time is not what is measured here.
        dynamodb = base.dynamodb.model_copy(update={"replica_creation_s": 1.0})
        self.instance = Instance(number, base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port),
                                                                 "dynamodb": dynamodb}))
        self.environment = self.instance.resolved()
        self.plane = ControlPlane(logging.getLogger("bench.controlplane"), instance=self.instance)
        self.endpoint = AwsEndpoint(self.plane, self.host, port)
        self.part = DynamoDbPart()
        self.samples: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.session = boto3.session.Session(**LOCAL_CREDENTIALS)
        self.regions = sorted(self.environment.regions)

    def start(self) -> None:
        self.endpoint.start()
        context = PartContext(self.instance, self.environment, self.instance.state_dir, logging.getLogger("bench.dynamodb"),
                              self.plane.services, part="dynamodb")
        self.part.start(context)
        self.plane.attach(self.part)
        self.part.observe(self.observed)
        gc.collect()
        gc.freeze()  # as the supervisor does once its parts have started

    def stop(self) -> None:
        self.plane.detach_all()
        self.part.stop()
        self.endpoint.stop()

    def observed(self, delivery: Delivery, latency_s: float) -> None:
        with self.lock:
            self.samples.setdefault(f"{delivery.source}>{delivery.write.region}", []).append(latency_s)

    def client(self, region: str) -> Any:
        return self.session.client("dynamodb", region_name=region, endpoint_url=self.instance.aws_endpoint,
                                   config=Config(retries={"max_attempts": 2}, max_pool_connections=4))

    def settled(self, limit_s: float) -> float | None:
        """Seconds until the replicator has nothing pending; None past ``limit_s``."""
        began = time.monotonic()
        while self.part.status()["pending"]:
            if time.monotonic() - began > limit_s:
                return None
            time.sleep(0.01)
        return time.monotonic() - began

    def global_table(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        home = self.client(self.regions[0])
        home.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
        home.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": r}} for r in self.regions[1:]])
        deadline = time.monotonic() + 30
        while any(r["ReplicaStatus"] != "ACTIVE" for r in home.describe_table(TableName=name)["Table"]["Replicas"]):
            if time.monotonic() > deadline:
                raise TimeoutError("the replicas did not turn ACTIVE within 30 s")
            time.sleep(0.05)
        return name

    def latency(self, table: str, writes: int) -> dict[str, Any]:
        with self.lock:
            self.samples.clear()
        for region in self.regions:
            client = self.client(region)
            for n in range(writes):
                client.put_item(TableName=table, Item={"id": {"S": f"probe-{region}-{n}"}, "price": {"N": str(n)}})
                time.sleep(0.02)
        self.settled(DRAIN_LIMIT_S)
        pairs = {}
        with self.lock:
            taken = {pair: list(values) for pair, values in self.samples.items()}
        for pair, values in sorted(taken.items()):
            source, target = pair.split(">")
            modelled_ms = self.part.delay_s(source, target) * 1000
            p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
            pairs[pair] = {"samples": len(values), "modelled_ms": round(modelled_ms, 1), "p50_ms": round(p50, 1),
                           "p99_ms": round(p99, 1), "p99_over_modelled_ms": round(p99 - modelled_ms, 1),
                           "met": p99 - modelled_ms <= LATENCY_GOAL_MS}
        worst = max((p["p99_over_modelled_ms"] for p in pairs.values()), default=None)
        return {"pairs": pairs, "worst_p99_over_modelled_ms": worst, "goal_ms": LATENCY_GOAL_MS,
                "met": all(p["met"] for p in pairs.values()) and len(pairs) == len(self.regions) * (len(self.regions) - 1)}

    def throughput(self, table: str, seconds: float, threads: int) -> dict[str, Any]:
        with self.lock:
            self.samples.clear()
        context = multiprocessing.get_context("spawn")  # clients in their own processes, as the stack's users are
        go, ready, results = context.Event(), context.Queue(), context.Queue()
        workers = [context.Process(target=load, daemon=True, args=(
            self.instance.aws_endpoint, self.regions[i % len(self.regions)], table, f"t{i}", seconds, ready, go, results))
            for i in range(threads)]
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get(timeout=120)  # each has made its client (importing boto3 takes a while)
        before = dict(self.part.status())
        cpu_before = time.process_time()
        go.set()
        began = time.monotonic()
        backlog = []
        while time.monotonic() - began < seconds:
            time.sleep(0.5)
            backlog.append(int(self.part.status()["pending"]))
        reports = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(30)
        elapsed = max(r["elapsed_s"] for r in reports)
        drain_s = self.settled(DRAIN_LIMIT_S)
        cpu_s = time.process_time() - cpu_before  # every thread of this process: the endpoint, the part
        after = dict(self.part.status())
        applied = int(after["replicated"]) - int(before["replicated"])
        superseded = int(after["superseded"]) - int(before["superseded"])
        items = sum(r["accepted"] for r in reports)
        errors = [e for r in reports for e in r["errors"]]
        with self.lock:
            lags = [v for values in self.samples.values() for v in values]
        max_delay_ms = max(self.part.delay_s(a, b) for a in self.regions for b in self.regions if a != b) * 1000
        return {
            "how": f"{threads} client processes (Regions in turn), each sending BatchWriteItem calls of {BATCH} new items "
                   f"one after the other for {seconds} s",
            "item_writes_per_s": round(items / elapsed, 1),
            "deliveries_applied_per_s": round(applied / elapsed, 1),
            "stack_cpu_s": round(cpu_s, 2),
            "stack_cpu_ms_per_item": round(cpu_s * 1000 / max(1, items), 3),
            "item_writes_per_stack_cpu_s": round(items / cpu_s, 1) if cpu_s else None,
            "load_average_1m": os.getloadavg()[0], "cpus": os.cpu_count(),
            "items_written": items, "deliveries_applied": applied, "deliveries_superseded": superseded,
            "deliveries_expected": items * (len(self.regions) - 1),
            "backlog_samples": backlog,
            "backlog_growing": growing(backlog),
            "drain_s": None if drain_s is None else round(drain_s, 3),
            "latency_under_load_p99_ms": round(percentile(lags, 99) * 1000, 1) if lags else None,
            "max_modelled_delay_ms": round(max_delay_ms, 1),
            "errors": errors[:5], "error_count": len(errors),
            "goal_item_writes_per_s": WRITES_GOAL_PER_S,
            "met": items / elapsed >= WRITES_GOAL_PER_S and drain_s is not None and applied == items * (len(self.regions) - 1),
        }

    def fill(self, table: str, items: int) -> dict[str, Any]:
        """Top the table up to ``items`` items, then wait until every replica holds them all."""
        home = self.client(self.regions[0])
        present = count(home, table)
        n = 0
        while present + n < items:
            size = min(BATCH, items - present - n)
            home.batch_write_item(RequestItems={table: [
                {"PutRequest": {"Item": {"id": {"S": f"fill-{n + i}"}, "price": {"N": str(n + i)},
                                         "name": {"S": "a product name of a usual length"}}}} for i in range(size)]})
            n += size
        self.settled(DRAIN_LIMIT_S * 3)
        counts = {r: count(self.client(r), table) for r in self.regions}
        return {"items_per_replica": counts, "pss_mib": pss_mib()}


def load(endpoint: str, region: str, table: str, prefix: str, seconds: float, ready: Any, go: Any, results: Any) -> None:
    """One client process: BatchWriteItem calls of BATCH new items, one after the other, for ``seconds``."""
    client = boto3.session.Session(**LOCAL_CREDENTIALS).client(
        "dynamodb", region_name=region, endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}))
    ready.put(prefix)
    go.wait(120)
    accepted, errors, n = 0, [], 0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        batch = [{"PutRequest": {"Item": {"id": {"S": f"{prefix}-{n + i}"}, "price": {"N": str(n + i)},
                                          "name": {"S": "a product name of a usual length"}}}} for i in range(BATCH)]
        try:
            answer = client.batch_write_item(RequestItems={table: batch})
        except Exception as error:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(error).__name__}: {str(error)[:80]}")
            continue
        accepted += BATCH - len(answer.get("UnprocessedItems", {}).get(table, []))
        n += BATCH
    results.put({"accepted": accepted, "errors": errors, "elapsed_s": time.monotonic() - began})


def main(number: int, seconds: float, threads: int, items: int, probe_writes: int) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    bench = Bench(number)
    bench.start()
    try:
        baseline = pss_mib()
        table = bench.global_table()
        latency = bench.latency(table, probe_writes)
        throughput = bench.throughput(table, seconds, threads)
        memory = bench.fill(table, items)
    finally:
        bench.stop()
    return {
        "benchmark": "dynamodb", "instance": number, "time_scale": bench.environment.time_scale,
        "replication_processing_s": bench.environment.dynamodb.replication_processing_s, "regions": bench.regions,
        "latency": latency, "throughput": throughput,
        "memory": {"pss_mib_before": baseline, "pss_mib_with_items": memory["pss_mib"],
                   "items_per_replica": memory["items_per_replica"],
                   "what": "PSS of the process running the control plane and the DynamoDB part (as the supervisor does)"},
    }


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the throughput load, s (default 10)")
    parser.add_argument("--threads", type=int, default=4, help="client processes of the throughput load (default 4)")
    parser.add_argument("--items", type=int, default=100_000, help="items in the table for the memory figure")
    parser.add_argument("--probe-writes", type=int, default=PROBE_WRITES, help="latency probes per source Region")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.seconds <= 120:
        parser.error(f"--seconds {arguments.seconds}: must be in (0, 120]")
    if not 1 <= arguments.threads <= 16:
        parser.error(f"--threads {arguments.threads}: must be in [1, 16]")
    if not 1 <= arguments.items <= 200_000:
        parser.error(f"--items {arguments.items}: must be in [1, 200000]")
    if not 1 <= arguments.probe_writes <= 1000:
        parser.error(f"--probe-writes {arguments.probe_writes}: must be in [1, 1000]")
    arguments.instance = bench_instance()
    return arguments


if __name__ == "__main__":
    options = _arguments()
    print(json.dumps(main(options.instance, options.seconds, options.threads, options.items, options.probe_writes),
                     indent=1, default=str))
