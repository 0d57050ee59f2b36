"""CloudWatch on the local stack: from a breaching datapoint to the alarm's state change.

Runs the control plane and the cloudwatch part in this process, on stack instance $GAMEDAY_INSTANCE
(default 3) at the local environment's time_scale, on a free endpoint port. For each trial a new
alarm (1 of 1, Maximum > 100) is created and evaluated to OK on a non-breaching datapoint, then a
breaching datapoint is put with boto3, and the time until DescribeAlarms shows ALARM is measured
(the client's view, polled every 10 ms), together with the stack's own figure (the StateUpdate
history item's timestamp minus the moment PutMetricData was sent). Prints one JSON object.

    GAMEDAY_INSTANCE=3 .venv/bin/python benchmarks/bench_cloudwatch.py [--trials 6] [--budget 300]

Goal: datapoint to state change <= one scaled period + 1 s, for every trial (met: the worst trial).
Periods 10 s (high resolution) and 60 s are measured; the trials of each are spread over the period
(a datapoint waits for its period to end, so the figure depends on where in the period it lands).
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
from stack.local.cloudwatch.part import CloudWatchPart
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext

DEFAULT_INSTANCE = 3
PERIODS_S = (10, 60)
NAMESPACE = "Bench/CloudWatch"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def state(cloudwatch: Any, name: str) -> str:
    return str(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def wait_for(cloudwatch: Any, name: str, wanted: str, timeout_s: float) -> float | None:
    """Seconds until the alarm is in ``wanted`` (polled every 10 ms), or None at the timeout."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if state(cloudwatch, name) == wanted:
            return time.monotonic() - began
        time.sleep(0.01)
    return None


def trial(cloudwatch: Any, period_s: int, offset: float, period_wall_s: float) -> dict[str, Any]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    dimensions = [{"Name": "Trial", "Value": name}]
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace=NAMESPACE, MetricName="Latency", Dimensions=dimensions,
                                Statistic="Maximum", Period=period_s, EvaluationPeriods=1, Threshold=100.0,
                                ComparisonOperator="GreaterThanThreshold")
    try:
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
            {"MetricName": "Latency", "Dimensions": dimensions, "Value": 10.0, "StorageResolution": 1}])
        if wait_for(cloudwatch, name, "OK", 3 * period_wall_s + 5) is None:
            return {"error": "the alarm never went OK"}
        # Land the breaching datapoint at a chosen point of its period (0: just after a boundary).
        now = time.time()
        target = (now // period_wall_s + 1) * period_wall_s + offset * period_wall_s
        time.sleep(max(0.0, target - time.time()))
        sent = time.time()
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
            {"MetricName": "Latency", "Dimensions": dimensions, "Value": 900.0, "StorageResolution": 1}])
        seen = wait_for(cloudwatch, name, "ALARM", 3 * period_wall_s + 5)
        history = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
        changed = [h for h in history if h["HistorySummary"] == "Alarm updated from OK to ALARM"]
        stack_s = changed[0]["Timestamp"].timestamp() - sent if changed else None
        return {"offset_in_period": offset, "client_s": None if seen is None else round(seen, 3),
                "stack_s": None if stack_s is None else round(stack_s, 3)}
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per period (spread over the period)")
    parser.add_argument("--budget", type=float, default=300.0, help="stop after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    instance_number = bench_instance(DEFAULT_INSTANCE)
    port = free_port()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port)})
    instance = Instance(instance_number, environment)
    plane = ControlPlane(logging.getLogger("bench.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    part = CloudWatchPart()
    part.start(PartContext(instance, environment, instance.state_dir, logging.getLogger("bench.cloudwatch"),
                           plane.services, part="cloudwatch"))
    plane.attach(part)
    cloudwatch = boto3.session.Session(**LOCAL_CREDENTIALS).client(
        "cloudwatch", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}", config=Config(retries={"max_attempts": 1}))
    started = time.monotonic()
    results: dict[str, Any] = {}
    complete = True
    try:
        for period_s in PERIODS_S:
            period_wall_s = environment.timescale.to_wall(period_s)
            goal_s = period_wall_s + 1.0
            trials = []
            for index in range(args.trials):
                if time.monotonic() - started > args.budget:
                    complete = False
                    break
                trials.append(trial(cloudwatch, period_s, index / args.trials, period_wall_s))
            stack_figures = [t["stack_s"] for t in trials if t.get("stack_s") is not None]
            client_figures = [t["client_s"] for t in trials if t.get("client_s") is not None]
            worst = max(stack_figures, default=None)
            results[f"period_{period_s}s"] = {
                "period_wall_s": period_wall_s, "goal_s": round(goal_s, 3), "trials": trials,
                "stack_s": {"p50": round(statistics.median(stack_figures), 3) if stack_figures else None, "max": worst},
                "client_s": {"p50": round(statistics.median(client_figures), 3) if client_figures else None,
                             "max": max(client_figures, default=None)},
                "met": worst is not None and len(stack_figures) == len(trials) and worst <= goal_s,
            }
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()
    print(json.dumps({
        "benchmark": "cloudwatch", "instance": instance_number, "time_scale": environment.time_scale,
        "measure": "datapoint to alarm state change (PutMetricData sent -> StateUpdate history timestamp)",
        "goal": "<= one scaled period + 1 s", "complete": complete,
        "met": complete and all(r["met"] for r in results.values()), "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
