"""WAF at the edge: the engine's cost per request, and a rate rule against a bot flood on the local stack.

Runs against the local stack of $GAMEDAY_INSTANCE with the reference stack built; when that stack is
not running, it starts and builds it and stops it afterwards. Prints one JSON object:

- ``engine_us``: one web ACL (a rate-based rule, an IP set rule, a byte match on User-Agent) evaluating
  --requests requests in-process, from 50 addresses: p50 and p99 microseconds per request (what the
  WAF adds to an edge's hit; the hit's whole budget is 0.3 ms at p50).
- ``first_403``: a distribution in front of checkout in us-east-1 with a web ACL whose rate-based rule
  allows 30 requests per 60 s window and IP. Locust (probes/load, a child process) runs one user per
  vantage point (0.1 request per AWS second, cached product list) and one bot IP (2 requests per AWS
  second, 20x, over 4 connections, on the same cached path, so its rate does not depend on the origin's
  speed: WAF evaluates every request before the cache) for --seconds AWS seconds. The figure is the wall time from the
  bot's first request to its first 403, and the same in AWS seconds; goal: within one evaluation
  window (60 AWS s), since WAF lists an IP at its 10 s check after the IP crosses the limit.
- ``users_p95_ms``: the users' p95 latency during the flood; goal: <= slos.checkout_p95_latency_ms.
- ``load_average_1m``: the machine's load when the run ended (the figures depend on it).

    GAMEDAY_INSTANCE=5 .venv/bin/python benchmarks/bench_waf.py [--requests 50000] [--seconds 120]
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchinstance import bench_instance  # noqa: E402  (beside this script)
from environments import loader  # noqa: E402
from environments.model import LocalEnvironment  # noqa: E402
from probes.load import run as load  # noqa: E402
from probes.load.plan import Crowd, LoadPlan, Target  # noqa: E402
from probes.slo import percentile  # noqa: E402
from stack.local.cloudfront import wafrules  # noqa: E402
from stack.local.cloudfront.wafacl import WebAcl  # noqa: E402
from stack.local.cloudfront.wafrules import WebRequest  # noqa: E402
from stack.local.instance import Instance  # noqa: E402
from stack.local.part import LOCAL_CREDENTIALS  # noqa: E402

WINDOW_AWS_S, LIMIT = 60, 30
USER_RATE_AWS, BOT_FACTOR, BOT_CONNECTIONS = 0.1, 20, 4
VISIBILITY = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}
RATE_RULE = {"Name": "flood", "Priority": 0, "Action": {"Block": {}}, "VisibilityConfig": {**VISIBILITY, "MetricName": "flood"},
             "Statement": {"RateBasedStatement": {"Limit": LIMIT, "EvaluationWindowSec": WINDOW_AWS_S, "AggregateKeyType": "IP"}}}


def engine(requests: int, scale: float) -> dict[str, Any]:
    blocked = "arn:aws:wafv2:us-east-1:123456789012:global/ipset/blocked/1"
    rules = [RATE_RULE,
             {**RATE_RULE, "Name": "blocked", "Priority": 1, "Statement": {"IPSetReferenceStatement": {"ARN": blocked}}},
             {**RATE_RULE, "Name": "agents", "Priority": 2, "Statement": {"ByteMatchStatement": {
                 "FieldToMatch": {"SingleHeader": {"Name": "user-agent"}}, "PositionalConstraint": "CONTAINS",
                 "SearchString": b"badbot", "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}]}}}]
    acl = WebAcl({"Name": "bench", "ARN": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/bench/1",
                  "DefaultAction": {"Allow": {}}, "Rules": rules, "VisibilityConfig": {**VISIBILITY, "MetricName": "bench"}},
                 lambda _arn: wafrules.ip_networks(["127.203.5.0/24", "10.0.0.0/8"]), time.monotonic,
                 lambda aws_s: aws_s * scale, time.time)
    sources = [str(ipaddress.IPv4Address("127.202.1.10") + i) for i in range(50)]
    costs = []
    for i in range(requests):
        request = WebRequest(sources[i % len(sources)], "US", "GET", "/products", "page=1", {"user-agent": "Mozilla/5.0"})
        started = time.perf_counter_ns()
        acl.evaluate(request)
        costs.append((time.perf_counter_ns() - started) / 1000)
    return {"requests": requests, "p50": percentile(costs, 50), "p99": percentile(costs, 99)}


def flood(number: int, seconds_aws: float) -> dict[str, Any]:
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    instance = Instance(number, base)
    env = instance.resolved()
    session = boto3.session.Session(**LOCAL_CREDENTIALS)
    wafv2, cloudfront = (session.client(s, region_name="us-east-1", endpoint_url=instance.aws_endpoint) for s in ("wafv2", "cloudfront"))
    acl = wafv2.create_web_acl(Name=f"bench-{uuid.uuid4().hex[:6]}", Scope="CLOUDFRONT", DefaultAction={"Allow": {}},
                               Rules=[RATE_RULE], VisibilityConfig={**VISIBILITY, "MetricName": "bench"})["Summary"]
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": acl["Id"], "Comment": "bench_waf", "Enabled": True, "WebACLId": acl["ARN"],
        "Origins": {"Quantity": 1, "Items": [{"Id": "checkout", "DomainName": f"us-east-1.checkout.{base.stack.zone.rstrip('.')}",
                                              "CustomOriginConfig": {"HTTPPort": base.stack.checkout_port, "HTTPSPort": 443,
                                                                     "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "checkout", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "DefaultTTL": 300, "MaxTTL": 3600,
                                 "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "none"}}}})["Distribution"]
    try:
        scale = env.timescale
        target = Target(distribution["DomainName"], env.local.edge_http_port, instance.control_host, instance.dns_port)
        users = tuple(Crowd(name, 1, USER_RATE_AWS / scale.factor, vp.subnet, ("/products",)) for name, vp in env.vantage_points.items())
        load.run(LoadPlan(target, tuple(Crowd(c.name, 1, 2.0, c.subnet, c.paths) for c in users), duration_s=1.5))  # warm
        bot = next(iter(env.bots.values()))
        bots = Crowd("bots", BOT_CONNECTIONS, USER_RATE_AWS * BOT_FACTOR / scale.factor / BOT_CONNECTIONS, bot.subnet,
                     ("/products",), addresses=1)  # cached: the bot's rate does not wait on the origin
        result = load.run(LoadPlan(target, (*users, bots), scale.to_wall(seconds_aws)))
        crowd = result.crowds["bots"]
        first, blocked = crowd.first_at_s(), crowd.first_at_s(403)
        wall = None if first is None or blocked is None else round(blocked - first, 3)
        latencies = [r.latency_ms for name, c in result.crowds.items() if name != "bots" for r in c.requests]
        p95 = percentile(latencies, 95)
        return {
            "first_403": {"wall_s": wall, "aws_s": round(scale.to_aws(wall), 1) if wall is not None else None,
                          "goal_aws_s": WINDOW_AWS_S, "met": wall is not None and scale.to_aws(wall) <= WINDOW_AWS_S,
                          "bot_requests": len(crowd.requests), "bot_rate_per_s": round(crowd.rate_per_s(result.duration_s), 1),
                          "bot_statuses": crowd.statuses},
            "users_p95_ms": {"value": p95, "goal": env.slos.checkout_p95_latency_ms, "requests": len(latencies),
                             "met": p95 is not None and p95 <= env.slos.checkout_p95_latency_ms},
        }
    finally:
        found = cloudfront.get_distribution_config(Id=distribution["Id"])
        etag = cloudfront.update_distribution(Id=distribution["Id"], IfMatch=found["ETag"],
                                              DistributionConfig=found["DistributionConfig"] | {"Enabled": False})["ETag"]
        cloudfront.delete_distribution(Id=distribution["Id"], IfMatch=etag)
        token = wafv2.get_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"])["LockToken"]
        wafv2.delete_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"], LockToken=token)


def _gameday(number: int, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GAMEDAY_INSTANCE": str(number)}, cwd=str(ROOT))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="engine evaluations (default 50000)")
    parser.add_argument("--seconds", type=float, default=120.0, help="the flood's length in AWS seconds (default 120)")
    options = parser.parse_args()
    if not 1000 <= options.requests <= 1_000_000:
        parser.error(f"--requests {options.requests}: must be 1000-1000000")
    if not 30 <= options.seconds <= 600:
        parser.error(f"--seconds {options.seconds}: must be 30-600 AWS seconds")
    number = bench_instance()
    figures: dict[str, Any] = {"benchmark": "waf", "instance": number,
                               "engine_us": engine(options.requests, loader.load("local").timescale.factor)}
    started = _gameday(number, "stack", "status").returncode != 0  # nothing running: ours to start and stop
    try:
        if started:
            _gameday(number, "stack", "up", "--detach").check_returncode()
        _gameday(number, "stack", "build").check_returncode()
        figures.update(flood(number, options.seconds))
    finally:
        if started:
            _gameday(number, "stack", "down")
    figures["load_average_1m"] = os.getloadavg()[0]
    print(json.dumps(figures, indent=1))
