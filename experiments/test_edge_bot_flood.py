"""Bot flood at the edge: legitimate users from the four vantage points, bots at 20x their rate, with and without WAF.

SecureCart's API is served through a CloudFront distribution (origin: checkout's us-east-1 Regional
name) with a WAFv2 web ACL. Locust (probes/load, in a child process) runs two users per vantage point,
each from its own address in the vantage point's subnet, browsing the product list (cached at the
edge), and four bots (four IPs of the environment's bot subnet, four connections each), each at 20x a
user's rate, asking for pages the edge has not cached (every bot request reaches the origin unless WAF
stops it).

Rates are declared in AWS terms and scaled like every other timing: a user sends 0.1 request per AWS
second (6 per minute), a bot 2; at time_scale 0.1 that is 1 and 20 per wall second. The rate-based
rule counts per IP over a 60 s window (6 wall s) with a limit of 30, five times what a user sends.

1. **Control run**: the web ACL has no rule. Every bot request is served and reaches the origin.
2. **With the rule**: each bot gets 403 within one evaluation window of its first request (WAF puts an
   IP on its list at the 10 s check after it crosses the limit), no user is ever blocked, and the
   users' p95 latency stays within slos.checkout_p95_latency_ms.

Both runs' figures (requests, statuses, p50/p95/p99 per crowd, origin requests from bots) go into
the timeline and the verdict, with the rule's sampled requests (GetSampledRequests) and the web ACL's
BlockedRequests in CloudWatch (which must come to the 403s the bots saw). The distribution has a
Shield Advanced protection, stored and shown; the flood is HTTP: volumetric L3/L4 attacks are not
emulated.
"""
from __future__ import annotations

import datetime
import time
import uuid
from typing import Any, Iterator

import pytest

from environments.model import LocalEnvironment
from experiments.scenario import Scenario
from probes.load import run as load
from probes.load.plan import Crowd, LoadPlan, Target
from probes.slo import Measured

USER_RATE_AWS = 0.1  # requests per AWS second per legitimate user
BOT_FACTOR = 20  # a bot's rate over a user's
USERS_PER_VANTAGE = 2
BOTS = 4  # bot IPs
CONNECTIONS_PER_BOT = 4  # Locust users per bot IP: a bot's rate does not wait on one connection's latency
RUN_AWS_S = 100  # each run's length, in AWS seconds
WINDOW_AWS_S = 60  # the rate-based rule's evaluation window
LIMIT = 30  # requests per window and IP: 5x a user's 6, a bot sends 120
USER_PATHS = ("/products", "/products/SC-MUG-002")
BOT_PATHS = tuple(f"/products?page={i}" for i in range(2000))  # all different: every one misses the cache


def _distribution(cloudfront: Any, origin: str, port: int, web_acl_arn: str) -> dict[str, Any]:
    reference = f"bot-flood-{uuid.uuid4().hex[:8]}"
    return cloudfront.create_distribution(DistributionConfig={  # type: ignore[no-any-return]
        "CallerReference": reference, "Comment": "bot-flood game day", "Enabled": True, "WebACLId": web_acl_arn,
        "Origins": {"Quantity": 1, "Items": [{"Id": "checkout", "DomainName": origin, "CustomOriginConfig": {
            "HTTPPort": port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "checkout", "ViewerProtocolPolicy": "allow-all",
                                 "MinTTL": 0, "DefaultTTL": 300, "MaxTTL": 3600,
                                 "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "none"}}},
    })["Distribution"]


def _delete_distribution(cloudfront: Any, distribution_id: str) -> None:
    found = cloudfront.get_distribution_config(Id=distribution_id)
    etag = cloudfront.update_distribution(Id=distribution_id, IfMatch=found["ETag"],
                                          DistributionConfig=found["DistributionConfig"] | {"Enabled": False})["ETag"]
    cloudfront.delete_distribution(Id=distribution_id, IfMatch=etag)


def _rate_rule() -> dict[str, Any]:
    return {"Name": "bot-flood", "Priority": 0, "Action": {"Block": {}},
            "Statement": {"RateBasedStatement": {"Limit": LIMIT, "EvaluationWindowSec": WINDOW_AWS_S, "AggregateKeyType": "IP"}},
            "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "bot-flood"}}


@pytest.fixture
def edge(scenario: Scenario) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """A web ACL with no rule (yet), a distribution in front of checkout in us-east-1 that uses it, and a Shield
    Advanced protection on the distribution. Local stack only: on AWS this would be real load on real resources."""
    if not isinstance(scenario.environment, LocalEnvironment) or not scenario.environment.bots:
        pytest.skip("the bot flood runs on the local stack with an environment that declares bots")
    wafv2, cloudfront = scenario.clients("wafv2", "us-east-1"), scenario.clients("cloudfront", "us-east-1")
    shield = scenario.clients("shield", "us-east-1")
    name = f"securecart-{uuid.uuid4().hex[:6]}"  # also the metric name: this run's WAF metrics alone
    acl = wafv2.create_web_acl(Name=name, Scope="CLOUDFRONT", DefaultAction={"Allow": {}},
                               Rules=[], VisibilityConfig={"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                                                           "MetricName": name})["Summary"]
    distribution, protection = None, None
    try:
        distribution = _distribution(cloudfront, scenario.stack.names.regional("us-east-1"),
                                     scenario.environment.stack.checkout_port, acl["ARN"])
        protection = shield.create_protection(Name=name, ResourceArn=distribution["ARN"])["ProtectionId"]
        scenario.timeline.record("state", "Shield Advanced protection on the distribution (stored; volumetric L3/L4 "
                                 "attacks are not emulated)", **shield.describe_protection(ProtectionId=protection)["Protection"])
        yield distribution, acl
    finally:
        if protection is not None:
            shield.delete_protection(ProtectionId=protection)
        if distribution is not None:
            _delete_distribution(cloudfront, distribution["Id"])
        token = wafv2.get_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"])["LockToken"]
        wafv2.delete_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"], LockToken=token)


def _plan(scenario: Scenario, name: str, label: str) -> LoadPlan:
    env = scenario.environment
    assert isinstance(env, LocalEnvironment)
    scale = env.timescale
    user_rate, bot_rate = USER_RATE_AWS / scale.factor, USER_RATE_AWS * BOT_FACTOR / scale.factor
    crowds = [Crowd(vp.name, USERS_PER_VANTAGE, user_rate, vp.subnet, USER_PATHS) for vp in scenario.vantage_points()]
    crowds += [Crowd(bot, BOTS * CONNECTIONS_PER_BOT, bot_rate / CONNECTIONS_PER_BOT, place.subnet, BOT_PATHS,
                     addresses=BOTS) for bot, place in env.bots.items()]
    return LoadPlan(Target(name, env.local.edge_http_port, *scenario.authoritative), tuple(crowds),
                    scale.to_wall(RUN_AWS_S), labels={"run": label})


def _figures(result: load.LoadResult, bots: set[str], window_wall_s: float) -> dict[str, Any]:
    users = [r for name, crowd in result.crowds.items() if name not in bots for r in crowd.requests]
    per_bot = {source: crowd for name in bots for source, crowd in result.crowds[name].by_source().items()}
    to_403: dict[str, float | None] = {}
    for source, crowd in per_bot.items():
        first, blocked = crowd.first_at_s(), crowd.first_at_s(403)
        to_403[source] = None if first is None or blocked is None else round(blocked - first, 3)
    origin_from_bots = sum(1 for crowd in per_bot.values() for r in crowd.requests if r.status not in (0, 403))
    latencies = load.CrowdResult("users", tuple(users))
    return {
        "crowds": result.summary(),
        "users_p95_ms": latencies.percentile_ms(95), "users_requests": len(users),
        "users_blocked": sum(1 for r in users if r.status == 403),
        "users_failed": sum(1 for r in users if r.status == 0 or r.status >= 500),
        "bot_first_403_s": to_403, "bot_requests": sum(len(c.requests) for c in per_bot.values()),
        "bot_requests_served": origin_from_bots, "window_wall_s": window_wall_s,
    }


def _blocked_requests(scenario: Scenario, metric_name: str, since: float) -> float:
    """The web ACL's BlockedRequests in CloudWatch since ``since`` (epoch s): Sum over Rule ALL."""
    start = datetime.datetime.fromtimestamp(since - 60, datetime.timezone.utc)
    found = scenario.clients("cloudwatch", "us-east-1").get_metric_statistics(
        Namespace="AWS/WAFV2", MetricName="BlockedRequests", Statistics=["Sum"], Period=60, StartTime=start,
        EndTime=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2),
        Dimensions=[{"Name": "WebACL", "Value": metric_name}, {"Name": "Rule", "Value": "ALL"}])
    return float(sum(point["Sum"] for point in found["Datapoints"]))


def _warm(scenario: Scenario, plan: LoadPlan) -> None:
    """One request per vantage point and path, so the users' runs start with their edge's cache warm."""
    warm = LoadPlan(plan.target, tuple(Crowd(c.name, 1, 2.0, c.subnet, c.paths) for c in plan.crowds
                                       if c.name not in scenario.environment.bots),  # type: ignore[union-attr]
                    duration_s=1.5)
    load.run(warm)


@pytest.mark.gameday
@pytest.mark.edge
def test_waf_rate_rule_stops_a_bot_flood_and_users_stay_within_the_slo(
        scenario: Scenario, edge: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Control run without the rule, then with it: bots get 403 within one window, users keep their p95."""
    env = scenario.environment
    assert isinstance(env, LocalEnvironment)  # the fixture skipped otherwise
    distribution, acl = edge
    wafv2 = scenario.clients("wafv2", "us-east-1")
    bots = set(env.bots)
    slo_ms = env.slos.checkout_p95_latency_ms
    window_wall_s = env.timescale.to_wall(WINDOW_AWS_S)
    plan = _plan(scenario, distribution["DomainName"], "control")
    scenario.timeline.record("state", "distribution and web ACL (no rule) in place", distribution=distribution["Id"],
                             web_acl=acl["ARN"])
    _warm(scenario, plan)
    control = _figures(load.run(plan), bots, window_wall_s)
    scenario.timeline.record("sample", "bot flood without the WAF rule", **control)

    current = wafv2.get_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"])
    wafv2.update_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"], DefaultAction={"Allow": {}}, Rules=[_rate_rule()],
                         VisibilityConfig=current["WebACL"]["VisibilityConfig"], LockToken=current["LockToken"])
    scenario.mark("fault injected", "rate-based rule added to the web ACL", limit=LIMIT, window_s=WINDOW_AWS_S)
    started = time.time()
    load_results = {"with rule": load.run(_plan(scenario, distribution["DomainName"], "with rule"))}
    protected = _figures(load_results["with rule"], bots, window_wall_s)
    scenario.timeline.record("sample", "bot flood with the WAF rate rule", **protected)
    sampled = wafv2.get_sampled_requests(WebAclArn=acl["ARN"], RuleMetricName="bot-flood", Scope="CLOUDFRONT", MaxItems=500,
                                         TimeWindow={"StartTime": started - 5, "EndTime": time.time() + 5})
    scenario.timeline.record("state", "GetSampledRequests for the rate rule", population=sampled["PopulationSize"],
                             blocked_ips=sorted({s["Request"]["ClientIP"] for s in sampled["SampledRequests"]
                                                 if s["Action"] == "BLOCK"}))

    blocked_seen = sum(c.count(403) for name, c in load_results["with rule"].crowds.items())
    blocked_metric = scenario.wait_until(lambda: _blocked_requests(scenario, acl["Name"], started) >= blocked_seen,
                                         f"CloudWatch AWS/WAFV2 BlockedRequests reaches the {blocked_seen} 403s seen", 180)
    scenario.timeline.record("state", "AWS/WAFV2 BlockedRequests (Rule ALL) since the rule was added",
                             sum=_blocked_requests(scenario, acl["Name"], started), seen_by_the_load=blocked_seen,
                             reached=bool(blocked_metric))

    problems = []
    slowest = max((v for v in protected["bot_first_403_s"].values()), key=lambda v: float("inf") if v is None else v,
                  default=None)
    never = [s for s, v in protected["bot_first_403_s"].items() if v is None]
    if never:
        problems.append(f"with the rule, bots {never} never got a 403")
    if protected["users_blocked"]:
        problems.append(f"with the rule, {protected['users_blocked']} legitimate requests were blocked")
    if control["bot_requests_served"] == 0 or any(v is not None for v in control["bot_first_403_s"].values()):
        problems.append("the control run (no rule) did not serve the bots: it shows nothing to compare with")
    if protected["users_p95_ms"] is None or protected["users_p95_ms"] > slo_ms:
        problems.append(f"with the rule, legitimate users' p95 is {protected['users_p95_ms']} ms > the {slo_ms:g} ms SLO")
    for run, figures in (("control", control), ("with rule", protected)):
        if figures["users_failed"]:
            problems.append(f"{run}: {figures['users_failed']} legitimate requests failed (no answer or 5xx)")
    scale = env.timescale
    measured = [
        Measured("bot_first_403_s", "slowest bot: first request to first 403 (with the rule)", "",
                 slowest, scale.to_aws(slowest) if slowest is not None else None, float(WINDOW_AWS_S),
                 f"per bot IP (wall s): {protected['bot_first_403_s']}; WAF checks every 10 AWS s; limit {LIMIT} per "
                 f"{WINDOW_AWS_S} s. Users' p95: {protected['users_p95_ms']} ms with the rule, {control['users_p95_ms']} ms "
                 f"without (SLO {slo_ms:g} ms); bot requests served (reaching the origin): {protected['bot_requests_served']} "
                 f"of {protected['bot_requests']} with the rule, {control['bot_requests_served']} of "
                 f"{control['bot_requests']} without"),
    ]
    verdict = scenario.judge_measured("edge_bot_flood", measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
