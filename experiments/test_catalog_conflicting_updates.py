"""Conflicting price updates: the same product repriced in us-east-1 and eu-central-1 at the same moment.

Two operators change one price through checkout's admin endpoint, one in each Region, at once; both
writes are acknowledged (each Region's replica accepts its own write: nothing is conditional across
Regions). The global table resolves the conflict last-writer-wins: every Region must end serving the same
write, read through checkout in each Region, and the losing write is reported with its price, its
Region and the version it was acknowledged with (both writes get the same version number: a version
attribute does not detect a conflict between Regions). The convergence time, from the later
acknowledgement until every Region serves the winner, is judged against catalog_convergence_s.
"""
from __future__ import annotations

import threading
import time

import pytest

from base import clock
from experiments import catalog
from experiments.scenario import Scenario
from probes import catalog as catalog_probe
from probes.slo import Measured

SKU = "SC-MUG-002"
WRITERS = ("us-east-1", "eu-central-1")
VANTAGE = ["virginia", "oregon", "frankfurt", "singapore"]


@pytest.mark.gameday
@pytest.mark.dynamodb
def test_conflicting_price_updates_converge_on_one_winner(scenario: Scenario) -> None:
    """Concurrent writes in two Regions: every Region ends with the same winner; the losing write is shown."""
    table = catalog.catalog_of(scenario)
    slos = scenario.environment.slos
    admin = catalog.Admin(scenario)
    run = f"{int(time.time() * 1000) % 10**9}"
    problems: list[str] = []

    with scenario.observe(dns=False, checkout=False, catalog=SKU, vantage=VANTAGE):
        scenario.wait_until(lambda: catalog.every_vantage_reads(scenario, VANTAGE),
                            f"steady state: {SKU} read from every vantage point", 120)
        before = catalog.current_price(scenario, "virginia")
        assert before is not None and before.price_cents is not None
        prices = {region: before.price_cents + 10 * (i + 1) for i, region in enumerate(WRITERS)}
        ids = {region: f"conflict-{region}-{run}" for region in WRITERS}
        writes: dict[str, catalog.Write] = {}
        start = threading.Barrier(len(WRITERS))

        def write(region: str) -> None:
            start.wait(10)
            writes[region] = admin.change(region, SKU, prices[region], ids[region])

        threads = [threading.Thread(target=write, args=(region,), name=f"admin-{region}") for region in WRITERS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        refused = [w for w in writes.values() if not w.ok]
        assert len(writes) == len(WRITERS) and not refused, f"both writes must be acknowledged: {writes}"
        acked = max((w.acked_at for w in writes.values()), key=lambda at: at.monotonic_s)
        scenario.timeline.record("state", "both writes acknowledged", versions={r: w.version for r, w in writes.items()})

        def agreed() -> dict[str, catalog_probe.Seen] | None:
            """Every Region's checkout serves the same one of the two writes (read through its Region's name)."""
            seen = {region: admin.read(region, SKU) for region in table.regions}
            winners = {s.write_id for s in seen.values()}
            return seen if len(winners) == 1 and winners <= set(ids.values()) else None

        final = scenario.wait_until(agreed, "every Region serves the same write", (slos.catalog_convergence_s or 60) * 2)
        agreed_at = clock.now()
        assert final is not None
        # The vantage points' own view must settle on it too (a few samples after).
        winner_id = next(iter(final.values())).write_id
        scenario.wait_until(lambda: all(catalog_probe.visible_from(
            [s for s in scenario.samples("catalog") if s.source == v], lambda seen: seen.write_id == winner_id, acked)
            for v in VANTAGE), "every vantage point is served the winner", 60)

    winner = next(w for w in writes.values() if w.write_id == winner_id)
    loser = next(w for w in writes.values() if w.write_id != winner_id)
    for region, seen in final.items():
        if seen.price_cents != winner.price_cents:
            problems.append(f"{region} serves write {seen.write_id} with price {seen.price_cents}, not the winner's "
                            f"{winner.price_cents}")
    by_vantage = {entry.source: entry for entry in catalog_probe.staleness(
        scenario.samples("catalog"), lambda seen: seen.write_id == winner_id, acked, scenario.timescale)}
    slowest = max(by_vantage.values(), key=lambda e: -1 if e.wall_s is None else e.wall_s)
    wall_s = agreed_at.monotonic_s - acked.monotonic_s
    measured = [
        Measured("catalog_convergence_s", "every Region serves the winner", "rto", wall_s,
                 scenario.timescale.to_aws(wall_s), slos.catalog_convergence_s,
                 f"from the later acknowledgement until checkout in {', '.join(table.regions)} served "
                 f"{winner.write_id} ({winner.region}, price {winner.price_cents}); the losing write "
                 f"{loser.write_id} ({loser.region}, price {loser.price_cents}, acknowledged as version "
                 f"{loser.version}) is served nowhere; resolution one sample interval "
                 f"({scenario.timescale.to_aws(scenario.interval_s):.0f} s)"),
        Measured("catalog_staleness_s", f"slowest vantage point to be served the winner ({slowest.source})", "",
                 slowest.wall_s, slowest.aws_s, None,
                 f"{slowest.stale_samples} samples showed the other write or the old price after both were acknowledged"),
    ]
    scenario.timeline.record("state", f"losing write: {loser.write_id} in {loser.region}", winner=winner.write_id,
                             winner_region=winner.region, winner_price_cents=winner.price_cents,
                             loser=loser.write_id, loser_region=loser.region, loser_price_cents=loser.price_cents,
                             loser_version=loser.version, winner_version=winner.version,
                             served={region: seen.write_id for region, seen in final.items()})
    if slos.catalog_convergence_s is None:
        problems.append("the environment sets no slos.catalog_convergence_s to judge by")
    verdict = scenario.judge_measured("catalog_conflicting_updates", measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
