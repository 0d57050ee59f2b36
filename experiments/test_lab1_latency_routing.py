"""Lab 1, latency routing: every user is sent to their nearest healthy Region, and checkout is fast there.

EU users are served from eu-central-1 by geolocation; everyone else by latency among the active
Regions. The probe resolves at the authoritative server with the user's subnet as ECS, then calls
checkout from the user's address, so the fabric adds that user's real network delay.

Every request is also published to CloudWatch (SecureCart/Checkout, per Region and vantage point);
the p95 CloudWatch computes for each Region must agree with the probe's own within
CLOUDWATCH_TOLERANCE (both are nearest-rank percentiles of the same requests; the published values
are rounded to 0.1 ms).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from experiments.scenario import Scenario
from probes import metrics, slo

REQUESTS_PER_VANTAGE_POINT = 40
CLOUDWATCH_TOLERANCE_MS = 1.0  # or 1% of the probe's figure, whichever is larger


def cloudwatch_p95_ms(scenario: Scenario, region: str, vantage: str, first_s: float,
                      last_s: float) -> tuple[float, float] | None:
    """CloudWatch's (p95, sample count) of checkout latency in ``region`` from ``vantage`` over [first_s, last_s].

    One period covers the window, starting at the second of the first request (the probes publish per second)."""
    scenario.publishing().flush()  # sent now rather than at the next flush: the figures are read at once
    span_s = max(60, 60 * math.ceil((last_s - first_s + 2) / 60))
    start = datetime.fromtimestamp(math.floor(first_s), timezone.utc)
    found = scenario.clients("cloudwatch", region).get_metric_statistics(
        Namespace=metrics.NAMESPACE, MetricName="Latency", Unit="Milliseconds", Period=span_s,
        Dimensions=[{"Name": "Region", "Value": region}, {"Name": "VantagePoint", "Value": vantage}],
        StartTime=start, EndTime=start + timedelta(seconds=span_s), Statistics=["SampleCount"], ExtendedStatistics=["p95"])
    points = found["Datapoints"]
    if len(points) != 1:
        return None
    return float(points[0]["ExtendedStatistics"]["p95"]), float(points[0]["SampleCount"])


def p95_ms(latencies: list[float]) -> float:
    """The p95 the verdict uses: the report's own percentile (probes.slo.percentile, nearest rank)."""
    value = slo.percentile(latencies, 95)
    assert value is not None, "no checkout latency was measured"
    return value


def nearest_region(scenario: Scenario, vantage: str) -> str:
    env = scenario.environment
    point = env.vantage_points[vantage]
    if point.continent == "EU" and "eu-central-1" in env.active_regions:
        return "eu-central-1"
    return min(env.active_regions, key=lambda region: point.rtt_ms.get(region, float("inf")))


@pytest.mark.gameday
@pytest.mark.dns
@pytest.mark.latency
def test_users_reach_their_nearest_region_within_the_latency_slo(scenario: Scenario) -> None:
    """Every vantage point resolves checkout to its nearest Region (EU users to the EU) and meets the p95 latency SLO."""
    slo_ms = scenario.environment.slos.checkout_p95_latency_ms
    problems = []
    for vantage in scenario.vantage_points():
        expected = nearest_region(scenario, vantage.name)
        answer = scenario.resolve(vantage)
        regions = {scenario.region_of(address) for address in answer.addresses}
        scenario.timeline.record("sample", f"dns {vantage.name}", addresses=list(answer.addresses), ttl_s=answer.ttl_s,
                                 regions=sorted(regions), ecs_scope=answer.ecs_scope)
        if regions != {expected}:
            problems.append(f"{vantage.name} resolved {scenario.stack.names.checkout} to {sorted(regions)} "
                            f"({list(answer.addresses)}), expected {expected}")
            continue
        client = scenario.client(vantage)
        # the checkout probe, taken one request at a time (never started as a thread): its samples go into the
        # evidence, so the report's latency table is computed from exactly the requests this verdict judged
        probe = scenario.checkout_sampler(client, vantage.name)  # each sample also goes to CloudWatch
        scenario.samplers.append(probe)
        samples = [probe.take() for _ in range(REQUESTS_PER_VANTAGE_POINT)]
        client.close()
        failed = [s for s in samples if not s.ok]
        if failed:
            first = failed[0]
            reason = first.error or (f"HTTP {first.value.status}" if first.value is not None else "no response")
            problems.append(f"{len(failed)} of {len(samples)} checkout requests from {vantage.name} failed, first: "
                            f"{reason}")
        latencies = [s.value.latency_ms for s in samples if s.ok and s.value is not None]
        if not latencies:
            continue
        p95 = p95_ms(latencies)
        # CloudWatch counts a failed request's wait as latency too: compared only when every request succeeded.
        found = None if failed else cloudwatch_p95_ms(scenario, expected, vantage.name,
                                                      samples[0].at.wall_time, samples[-1].at.wall_time)
        cloudwatch_p95 = found[0] if found is not None else None
        scenario.timeline.record("sample", f"checkout latency {vantage.name}", region=expected,
                                 p50_ms=slo.percentile(latencies, 50), p95_ms=p95, percentile_method=slo.PERCENTILE_METHOD,
                                 cloudwatch_p95_ms=cloudwatch_p95, cloudwatch_samples=found[1] if found else None)
        tolerance = max(CLOUDWATCH_TOLERANCE_MS, p95 / 100)
        if not failed and found is None:
            problems.append(f"CloudWatch has no Latency p95 for {expected} from {vantage.name}")
        elif found is not None and abs(found[0] - p95) > tolerance:
            problems.append(f"CloudWatch's p95 for {expected} from {vantage.name} is {found[0]:.1f} ms over {found[1]:.0f} "
                            f"requests, the probe's {p95:.1f} ms over {len(latencies)}: they differ by more than "
                            f"{tolerance:.1f} ms")
        if p95 > slo_ms:
            problems.append(f"checkout p95 from {vantage.name} to {expected} is {p95:.0f} ms > {slo_ms:.0f} ms SLO")
    verdict = scenario.judge_steady_state("latency_routing", problems)
    assert verdict.passed, "\n".join(verdict.messages)
