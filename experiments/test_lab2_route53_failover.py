"""Lab 2, Route 53 failover: when us-east-1's health checks fail, its users move to the next Region.

The fault inverts the health checks of every checkout instance in us-east-1 (the documented way to
force a check unhealthy). Route 53 notices after RequestInterval x FailureThreshold; users' resolvers
notice after the TTL. The checkout probe caches answers for their TTL like a stub resolver, so the
measured RTO includes both. Failback: once the checks pass again, users come back.
"""
from __future__ import annotations

import contextlib

import pytest

from experiments.scenario import Scenario
from faults.route53 import FailHealthCheck
from probes.sampler import Sample

FAILED_REGION = "us-east-1"


@pytest.mark.failover
@pytest.mark.gameday
@pytest.mark.dns
def test_route53_moves_users_away_from_a_failed_region_and_back(scenario: Scenario) -> None:
    home = scenario.vantage("virginia")
    checks = [i.health_check_id for i in scenario.stack.instances_in(FAILED_REGION)]
    client = scenario.client(home)
    assert scenario.region_of(scenario.resolve(home).addresses[0]) == FAILED_REGION, "virginia must start in us-east-1"
    env = scenario.environment
    detection_aws_s = env.stack.health_check_interval_s * env.stack.health_check_failure_threshold
    budget_aws_s = detection_aws_s + env.stack.record_ttl_s + env.slos.stability_window_s * 2

    with scenario.observe(vantage=["virginia"]):
        scenario.steady_state()
        with contextlib.ExitStack() as faults:
            for check in checks:
                faults.enter_context(scenario.inject(FailHealthCheck, health_check_id=check))
            moved = scenario.wait_until(
                lambda: (r := scenario.region_of(client.get("/products").address)) != FAILED_REGION and r,
                "virginia's checkout served from another Region", budget_aws_s)
            scenario.wait_until(lambda: all(s.ok for s in scenario.samplers[-1].samples[-3:]),
                                "checkout keeps serving from the new Region", budget_aws_s)
        # failback: the checks pass again and users return home
        scenario.wait_until(lambda: scenario.region_of(client.get("/products").address) == FAILED_REGION,
                            "virginia's checkout served from us-east-1 again", budget_aws_s)

    # Users count as recovered when checkout answers from a healthy Region.
    served_elsewhere = [Sample(s.at, s.source, s.ok and scenario.region_of(s.value.address) != FAILED_REGION, s.value)
                        for s in scenario.samples("checkout") if s.at.monotonic_s <= scenario.timeline.of_kind("fault_rolled_back")[0].at.monotonic_s]
    verdict = scenario.judge("route53_failover", samples=served_elsewhere, what="checkout outside us-east-1")
    scenario.timeline.record("note", "moved", region=moved)
    assert moved in ("us-west-2", "eu-central-1")
    assert not [s for s in scenario.samples("checkout") if not s.ok], "checkout must keep serving throughout"
    assert verdict.passed, "\n".join(verdict.messages)
