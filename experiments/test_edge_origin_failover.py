"""Edge origin failover: us-east-1 is lost behind CloudFront; the API fails over, cached assets keep serving.

SecureCart's distribution sends the API (its ``api_path`` behaviour) to an origin group: checkout in
us-east-1 first, us-west-2 second, failing over on 500/502/503/504 and when the primary cannot be
reached. Every vantage point requests the API and an asset through the distribution, from its own
address, at the edge location its DNS answer names. us-east-1 is then isolated (every subnet's network
ACL denies all traffic). CloudFront does not remember a failed primary: each API request waits for
``ConnectionAttempts`` x ``ConnectionTimeout`` on us-east-1 and is then answered by us-west-2. So users
see no errors, only slower API requests, and the figure judged is how long a failed-over request takes
against that configured budget. Cached assets keep being hits. Hit ratio and origin load are counted
from the edges' ``X-Cache`` headers.
"""
from __future__ import annotations

import time

import pytest

from environments.model import LocalEnvironment
from experiments.scenario import Scenario, probe_timeouts
from faults.network import IsolateRegion
from probes import edge as edge_probe
from probes.sampler import Sample
from probes.slo import Measured, percentile

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
ASSET = "/static/app.js"
# The API's answers are not cacheable (checkout sends no Cache-Control): each one reaches the origin group.
# On top of the attempts, a failed-over request makes its round trips to the secondary and checkout answers it:
# wall time that is never scaled, so it is allowed in wall seconds (a busy shared host stretches it too).
NETWORK_ALLOWANCE_WALL_S = 0.5


def _failover_budget_aws_s(scenario: Scenario, distribution_id: str) -> tuple[float, float, str]:
    """ConnectionAttempts x ConnectionTimeout and the OriginReadTimeout of the API's primary origin, read from the
    distribution (a request already waiting on the primary when it is cut fails over after the read timeout)."""
    config = scenario.clients("cloudfront", "us-east-1").get_distribution_config(Id=distribution_id)["DistributionConfig"]
    group = next(g for g in config["OriginGroups"]["Items"])
    primary_id = group["Members"]["Items"][0]["OriginId"]
    origin = next(o for o in config["Origins"]["Items"] if o["Id"] == primary_id)
    attempts, timeout = int(origin.get("ConnectionAttempts") or 3), float(origin.get("ConnectionTimeout") or 10)
    read_timeout = float((origin.get("CustomOriginConfig") or {}).get("OriginReadTimeout") or 30)
    return attempts * timeout, read_timeout, f"{primary_id}: ConnectionAttempts {attempts} x ConnectionTimeout {timeout:g} s"


@pytest.mark.gameday
@pytest.mark.edge
@pytest.mark.region
def test_edge_fails_the_api_over_and_keeps_serving_cached_assets(scenario: Scenario) -> None:
    """Isolate us-east-1: the API through CloudFront is answered by us-west-2 within attempts x timeout; assets stay hits."""
    cdn = scenario.stack.cdn
    assert cdn is not None, "the reference stack has no CloudFront distribution (build it with the cdn option)"
    env = scenario.environment
    port = env.local.edge_http_port if isinstance(env, LocalEnvironment) else 80
    budget_aws_s, read_timeout_aws_s, budget_text = _failover_budget_aws_s(scenario, cdn.distribution_id)
    allowance_aws_s = scenario.timescale.to_aws(NETWORK_ALLOWANCE_WALL_S)
    worst_case_aws_s = max(budget_aws_s, read_timeout_aws_s) + allowance_aws_s  # a request in flight at the cut
    api_path = cdn.api_path.rstrip("*") or "/products"
    connect_s, _ = probe_timeouts(scenario.timescale)
    # Longer than the edge can take (its read timeout has a 5 s wall floor): a slow answer is measured, not an error.
    read_s = scenario.timescale.timeout(2 * worst_case_aws_s, floor=12.0)
    subnets = [s.subnet_id for s in scenario.stack.subnets if s.region == PRIMARY]
    for point in scenario.vantage_points():
        for kind, path in (("api", api_path), ("asset", ASSET)):
            client = edge_probe.client(cdn.domain_name, *scenario.authoritative, point.subnet, point.source_address, port,
                                       connect_s, read_s)
            scenario.samplers.append(edge_probe.sampler(client, point.name, kind, path, scenario.interval_s))

    def region_of(sample: Sample[edge_probe.EdgeResponse]) -> str:
        return sample.value.region if sample.ok and sample.value is not None else "none"

    def latest(kind: str) -> list[Sample[edge_probe.EdgeResponse]]:
        by_source: dict[str, Sample[edge_probe.EdgeResponse]] = {}
        for sample in scenario.samples(f"edge:{kind}"):
            by_source[sample.source] = sample
        return list(by_source.values())

    problems: list[str] = []
    with scenario.observe(dns=False, checkout=False):
        scenario.wait_until(lambda: len(latest("api")) == len(scenario.vantage_points())
                            and all(region_of(s) == PRIMARY for s in latest("api")),
                            f"steady state: the API through CloudFront answered by {PRIMARY} from every vantage point", 120)
        scenario.wait_until(lambda: latest("asset") and all(s.ok and s.value and s.value.hit for s in latest("asset")),
                            "steady state: the asset is a hit at every edge", 60)
        for sample in latest("api"):
            if isinstance(env, LocalEnvironment) and sample.value is not None and sample.value.pop[:3] not in env.edge_locations:
                problems.append(f"{sample.source} was served by {sample.value.pop!r}, not one of the edge locations")
        with scenario.inject(IsolateRegion, region=PRIMARY, subnet_ids=subnets):
            scenario.hold("edge:api", lambda s: region_of(s) == SECONDARY,
                          f"the API through CloudFront answered by {SECONDARY}", worst_case_aws_s * 6 + 120)
        rolled_back = scenario.timeline.of_kind("fault_rolled_back")[-1].at
        scenario.wait_until(lambda: all(region_of(s) == PRIMARY and s.at.monotonic_s > rolled_back.monotonic_s
                                        for s in latest("api")),
                            f"failback: the API answered by {PRIMARY} again", 120)

    injected = scenario.injected_at
    assert injected is not None
    during = [s for s in scenario.samples("edge:api") if injected.monotonic_s <= s.at.monotonic_s < rolled_back.monotonic_s]
    failed_over = [s.value.latency_ms / 1000 for s in during if s.value is not None and s.value.region == SECONDARY]
    errors = [s for s in during if not s.ok]
    if errors:
        problems.append(f"{len(errors)} API requests failed during the isolation (first: {errors[0].source}: "
                        f"{errors[0].error or (errors[0].value and errors[0].value.status)})")
    assets_during = [s for s in scenario.samples("edge:asset") if injected.monotonic_s <= s.at.monotonic_s < rolled_back.monotonic_s]
    if not assets_during or not all(s.ok for s in assets_during):
        problems.append("cached assets did not keep serving while us-east-1 was isolated")
    api_figures = edge_probe.cache_figures(scenario.samples("edge:api"))
    asset_figures = edge_probe.cache_figures(scenario.samples("edge:asset"))
    # The failover's own cost: a failed-over request's latency less the API's usual latency through the edge before
    # the cut (the same host load, checkout's own work), judged against the configured attempts x timeout.
    steady = [s.value.latency_ms / 1000 for s in scenario.samples("edge:api")
              if s.ok and s.value is not None and s.at.monotonic_s < injected.monotonic_s]
    usual = percentile(steady, 50) or 0.0
    p50 = percentile(failed_over, 50)
    worst = max(failed_over) if failed_over else None
    delay = None if p50 is None else max(0.0, p50 - usual)
    allowance = f"+ {NETWORK_ALLOWANCE_WALL_S:g} s wall ({allowance_aws_s:g} AWS-s) for the secondary's round trips"
    measured = [
        Measured("edge_failover_delay_s", "failover delay of an API request (median, primary isolated)", "rto", delay,
                 None if delay is None else scenario.timescale.to_aws(delay), budget_aws_s + allowance_aws_s,
                 f"median failed-over request less the usual {scenario.timescale.to_aws(usual):.1f} AWS-s; "
                 f"{budget_text} {allowance}"),
        Measured("edge_failover_request_worst_s", "a failed-over API request (worst, primary isolated)", "", worst,
                 None if worst is None else scenario.timescale.to_aws(worst), None,
                 f"a request in flight at the cut waits OriginReadTimeout {read_timeout_aws_s:g} s instead"),
    ]
    scenario.timeline.record("state", "edge figures", failover_budget_aws_s=budget_aws_s,
                             usual_api_latency_aws_s=round(scenario.timescale.to_aws(usual), 2),
                             failed_over_latencies_aws_s=[round(scenario.timescale.to_aws(x), 2) for x in failed_over],
                             failed_over_requests=len(failed_over),
                             failed_over_p50_aws_s=None if p50 is None else scenario.timescale.to_aws(p50),
                             failed_over_max_aws_s=None if worst is None else scenario.timescale.to_aws(worst),
                             asset_hit_ratio=asset_figures.hit_ratio, asset_requests=asset_figures.requests,
                             asset_origin_requests=asset_figures.origin_requests,
                             api_requests=api_figures.requests, api_origin_requests=api_figures.origin_requests,
                             measured_at=time.time())
    verdict = scenario.judge_measured("edge_origin_failover", measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
