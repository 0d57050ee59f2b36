"""Catalog during Region isolation: replication to eu-central-1 is paused while prices change in us-east-1.

The catalog is a DynamoDB global table; checkout in each Region reads its own replica. Replication to
the Frankfurt replica is paused (dynamodb.pause_replication: the deny statement FIS's
aws:dynamodb:global-table-pause-replication puts on the replica's resource policy) for PAUSE_AWS_S,
and an operator changes a price in us-east-1 through checkout's admin endpoint. The catalog probe reads
the product through checkout from Virginia (served by us-east-1) and Frankfurt (served by eu-central-1)
the whole time. Frankfurt's users keep seeing the old price: the staleness window is the replication RPO
(how much of us-east-1's catalog eu-central-1 would lack if us-east-1 were lost now). After the resume,
the convergence time is how soon Frankfurt serves the new price. Both are judged against the
environment's SLOs catalog_staleness_s and catalog_convergence_s.
"""
from __future__ import annotations

import time

import pytest

from base.milestone import Milestone
from experiments import catalog
from experiments.scenario import Scenario
from faults.dynamodb import PauseReplication
from probes import catalog as catalog_probe
from probes.slo import Measured

SKU = "SC-HOOD-003"
PAUSED_REGION = "eu-central-1"
WRITER_REGION = "us-east-1"
PAUSE_AWS_S = 60  # how long replication stays paused (FIS's action runs for a duration too)
VANTAGE = {"virginia": WRITER_REGION, "frankfurt": PAUSED_REGION}


@pytest.mark.gameday
@pytest.mark.dynamodb
@pytest.mark.region
def test_catalog_during_region_isolation(scenario: Scenario) -> None:
    """Pause replication to eu-central-1, change a price in us-east-1: staleness and convergence within the SLOs."""
    table = catalog.catalog_of(scenario)
    slos = scenario.environment.slos
    admin = catalog.Admin(scenario)
    run = f"{int(time.time() * 1000) % 10**9}"
    problems: list[str] = []

    with scenario.observe(dns=False, checkout=False, catalog=SKU, vantage=list(VANTAGE)):
        scenario.wait_until(lambda: catalog.every_vantage_reads(scenario, list(VANTAGE)),
                            f"steady state: {SKU} read from {', '.join(VANTAGE)}", 120)
        for source, region in VANTAGE.items():
            seen = catalog.current_price(scenario, source)
            if seen is not None and seen.region != region:
                problems.append(f"{source} is served by {seen.region}, not {region}: the experiment measures the "
                                "wrong replica")
        before = catalog.current_price(scenario, "virginia")
        assert before is not None and before.price_cents is not None
        new_price = before.price_cents + 100
        write_id = f"isolation-{run}"

        def shows(seen: catalog_probe.Seen) -> bool:
            return seen.write_id == write_id

        with scenario.inject(PauseReplication, region=PAUSED_REGION, table_name=table.table):
            write = admin.change(WRITER_REGION, SKU, new_price, write_id)
            assert write.ok, f"the admin endpoint refused the price change: {write.status} {write.body}"
            scenario.wait_until(lambda: any(s.ok and s.value is not None and shows(s.value)
                                            for s in scenario.samples("catalog") if s.source == "virginia"),
                                "Virginia sees the new price", 60)
            paused_until = time.monotonic() + scenario.timescale.to_wall(PAUSE_AWS_S)
            scenario.wait_until(lambda: time.monotonic() >= paused_until,
                                f"replication paused for {PAUSE_AWS_S} AWS-s", PAUSE_AWS_S * 2)
        resumed_at = scenario.timeline.of_kind("fault_rolled_back")[-1].at
        during = [s for s in scenario.samples("catalog") if s.source == "frankfurt" and s.ok and s.value is not None
                  and write.acked_at.monotonic_s <= s.at.monotonic_s < resumed_at.monotonic_s]
        if any(s.value is not None and shows(s.value) for s in during):
            problems.append("Frankfurt was served the new price while replication to eu-central-1 was paused: "
                            "the pause did not hold replication")
        converge_aws_s = (slos.catalog_convergence_s or 60) * 2
        scenario.wait_until(lambda: catalog_probe.visible_from(
            [s for s in scenario.samples("catalog") if s.source == "frankfurt"], shows, resumed_at),
            "Frankfurt sees the new price", converge_aws_s)
        scenario.mark(Milestone.RECOVERY, "every vantage point serves the new price")
        # A few more samples: the new price must stay (a flip back would show as a later stale sample).
        settled_until = time.monotonic() + 3 * scenario.interval_s
        scenario.wait_until(lambda: time.monotonic() >= settled_until, "the new price holds", 30)

    samples = scenario.samples("catalog")
    interval_aws_s = scenario.timescale.to_aws(scenario.interval_s)
    windows = {entry.source: entry for entry in catalog_probe.staleness(samples, shows, write.acked_at,
                                                                         scenario.timescale)}
    converged = catalog_probe.convergence([s for s in samples if s.source == "frankfurt"], shows, write.acked_at,
                                          resumed_at, scenario.timescale)
    measured = [
        catalog.staleness_figure(windows["frankfurt"], PAUSED_REGION, slos.catalog_staleness_s, "rpo", interval_aws_s),
        Measured("catalog_convergence_s", f"convergence in {PAUSED_REGION} after replication resumed", "rto",
                 converged.wall_s, converged.aws_s, slos.catalog_convergence_s,
                 f"from the resume to Frankfurt's first sample with price {new_price}"),
        catalog.staleness_figure(windows["virginia"], WRITER_REGION, None, "", interval_aws_s),
    ]
    if slos.catalog_staleness_s is None or slos.catalog_convergence_s is None:
        problems.append("the environment sets no slos.catalog_staleness_s / slos.catalog_convergence_s to judge by")
    scenario.timeline.record("state", "catalog figures", staleness_frankfurt_aws_s=windows["frankfurt"].aws_s,
                             convergence_aws_s=converged.aws_s, staleness_virginia_aws_s=windows["virginia"].aws_s,
                             pause_aws_s=PAUSE_AWS_S, price_before=before.price_cents, price_after=new_price)
    verdict = scenario.judge_measured("catalog_region_isolation", measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
