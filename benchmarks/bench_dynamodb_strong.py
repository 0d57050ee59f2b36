"""DynamoDB multi-Region strong consistency (MRSC): write and strong-read latency against the model.

Runs the control plane and the DynamoDB part in this process on stack instance $GAMEDAY_INSTANCE
(default 8; a free endpoint port), at the environment's time scale. Makes one MRSC table (replicas in
us-east-1, us-west-2, eu-central-1) and, for comparison, the same global table eventually consistent;
in each Region, --calls PutItems each followed by a ConsistentRead GetItem, one at a time. Prints one
JSON object.

    GAMEDAY_INSTANCE=8 .venv/bin/python benchmarks/bench_dynamodb_strong.py [--calls 20]

Figures, per Region, p50 and max in ms:
- MRSC write, against the modelled delay to the nearest other Region (inter-Region RTT, unscaled,
  plus dynamodb.replication_processing_s scaled) and the overhead above it;
- MRSC strong read, against the RTT to the nearest other Region;
- the same calls on the eventually consistent table (no synchronous round).
Bounded: --calls is at most 200 and each phase has a deadline; the JSON says when one was hit.
"""
from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import sys
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
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.services import StrongConsistency

REGIONS = ("us-east-1", "us-west-2", "eu-central-1")
PHASE_LIMIT_S = 120.0
MAX_CALLS = 200


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def _table(clients: dict[str, Any], strong: bool) -> str:
    name = f"bench-{'mrsc' if strong else 'mrec'}-{uuid.uuid4().hex[:6]}"
    east = clients[REGIONS[0]]
    east.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    extra = {"MultiRegionConsistency": "STRONG"} if strong else {}
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": r}} for r in REGIONS[1:]], **extra)
    deadline = time.monotonic() + PHASE_LIMIT_S
    while any(r["ReplicaStatus"] != "ACTIVE" for r in east.describe_table(TableName=name)["Table"]["Replicas"]):
        if time.monotonic() > deadline:
            raise SystemExit(f"the replicas of {name} were not ACTIVE within {PHASE_LIMIT_S} s")
        time.sleep(0.05)
    return name


def _measure(clients: dict[str, Any], name: str, calls: int) -> tuple[dict[str, list[float]], dict[str, list[float]], bool]:
    writes: dict[str, list[float]] = {r: [] for r in REGIONS}
    reads: dict[str, list[float]] = {r: [] for r in REGIONS}
    deadline, cut = time.monotonic() + PHASE_LIMIT_S, False
    for region in REGIONS:
        for n in range(calls):
            if time.monotonic() > deadline:
                cut = True
                break
            key = {"id": {"S": f"{region}-{n}"}}
            began = time.monotonic()
            clients[region].put_item(TableName=name, Item={**key, "n": {"N": str(n)}})
            writes[region].append(time.monotonic() - began)
            began = time.monotonic()
            clients[region].get_item(TableName=name, Key=key, ConsistentRead=True)
            reads[region].append(time.monotonic() - began)
    return writes, reads, cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help=f"writes and reads per Region (1-{MAX_CALLS})")
    args = parser.parse_args()
    if not 1 <= args.calls <= MAX_CALLS:
        parser.error(f"--calls: {args.calls} is not between 1 and {MAX_CALLS}")
    logging.basicConfig(level=logging.WARNING)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port)})
    instance = Instance(bench_instance(), environment)
    plane = ControlPlane(logging.getLogger("bench.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    part = DynamoDbPart()
    try:
        part.start(PartContext(instance, environment, instance.state_dir, logging.getLogger("bench.dynamodb"),
                               plane.services, part="dynamodb"))
        plane.attach(part)
        plane.services.provide(StrongConsistency, part, by="dynamodb")
        session = boto3.session.Session(**LOCAL_CREDENTIALS)
        clients = {r: session.client("dynamodb", region_name=r, endpoint_url=f"http://127.0.0.1:{port}",
                                     config=Config(retries={"max_attempts": 1})) for r in REGIONS}
        result: dict[str, Any] = {"time_scale": environment.time_scale,
                                  "replication_processing_s": environment.dynamodb.replication_processing_s,
                                  "regions": list(REGIONS), "calls_per_region": args.calls}
        for strong in (True, False):
            writes, reads, cut = _measure(clients, _table(clients, strong), args.calls)
            figures = {}
            for region in REGIONS:
                others = [r for r in REGIONS if r != region]
                modelled_write = min(part.delay_s(region, r) for r in others) if strong else 0.0
                modelled_read = min(environment.rtt_ms(region, r) for r in others) / 1000 if strong else 0.0
                write, read = _ms(writes[region]), _ms(reads[region])
                figures[region] = {"write": {**write, "modelled_ms": round(modelled_write * 1000, 1),
                                             "overhead_p50_ms": round(write["p50_ms"] - modelled_write * 1000, 1)},
                                   "strong_read": {**read, "modelled_ms": round(modelled_read * 1000, 1)}}
            result["mrsc" if strong else "mrec"] = {"regions": figures, "deadline_hit": cut}
        result["coordinator"] = dict(part.strong.counts) if part.strong is not None else {}
        print(json.dumps(result, indent=1))
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()


if __name__ == "__main__":
    main()
