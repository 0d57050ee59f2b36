"""Foundation figures: `gameday stack up` to ready (control plane only), and building the reference stack.

Prints one JSON object. Uses local stack instance 9 so it never touches a user's stack.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import boto3

from environments import loader
from stack import builder
from stack.local import supervisor
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS

INSTANCE = int(os.environ.get("GAMEDAY_BENCH_INSTANCE", "9"))
RUNS = 5


def up_to_ready(instance: Instance) -> float:
    supervisor.stop(instance)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "gameday.cli", "stack", "up", "--detach"], check=True,
                   env=dict(os.environ, GAMEDAY_INSTANCE=str(instance.number)), capture_output=True)
    return time.monotonic() - started


def build(instance: Instance) -> float:
    session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(service: str, region: str) -> object:
        return session.client(service, region_name=region, endpoint_url=instance.aws_endpoint)

    started = time.monotonic()
    builder.Builder(instance.resolved(), client).build()
    return time.monotonic() - started


def main() -> None:
    instance = Instance(INSTANCE, loader.load("local"))  # type: ignore[arg-type]
    ups, builds, rebuilds = [], [], []
    try:
        for _ in range(RUNS):
            ups.append(up_to_ready(instance))
            builds.append(build(instance))
            rebuilds.append(build(instance))
    finally:
        supervisor.stop(instance)
    print(json.dumps({
        "benchmark": "stack",
        "parts": list(supervisor.PARTS),
        "stack_up_to_ready_s": {"median": round(statistics.median(ups), 3), "runs": [round(u, 3) for u in ups], "goal_max": 3.0},
        "build_reference_stack_s": {"median": round(statistics.median(builds), 3), "runs": [round(b, 3) for b in builds]},
        "rebuild_idempotent_s": {"median": round(statistics.median(rebuilds), 3)},
    }, indent=2))


if __name__ == "__main__":
    main()
