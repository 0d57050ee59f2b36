"""Lab 3, Multi-AZ RDS: reboot with failover while customers place orders.

The canary places sequenced orders through checkout from Virginia the whole time; every 201 is an
acknowledged order. RDS fails over to the synchronous standby in the other AZ, the endpoint moves,
checkout reconnects. Afterwards every acknowledged order must still be there (RPO 0), the outage
must fit the RTO SLO, and RDS must report what AWS reports: the AZs swapped and the failover events.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from base.milestone import Milestone
from experiments.scenario import Scenario
from faults.rds import RebootWithFailover
from probes import state

FAILOVER_EVENTS = ("Multi-AZ instance failover started", "Multi-AZ instance failover completed")


@pytest.mark.failover
@pytest.mark.gameday
@pytest.mark.rds
def test_multi_az_failover_loses_no_acknowledged_order(scenario: Scenario) -> None:
    """Reboot with failover under a stream of orders: no acknowledged order lost, RTO within the SLO."""
    database = scenario.stack.database
    assert database is not None
    before = scenario.database_available()
    assert before.secondary_availability_zone, "the orders database must be Multi-AZ"
    started = datetime.now(timezone.utc) - timedelta(seconds=1)

    with scenario.observe(dns=False, checkout=False, canary=True, vantage=["virginia"]):
        scenario.wait_until(lambda: scenario.canary and len(scenario.canary.acks) >= 5,
                            "steady state: orders acknowledged", 300)
        with scenario.inject(RebootWithFailover, region=database.region, db_instance_identifier=database.identifier,
                             wait_delay_s=scenario.interval_s):
            pass  # leaving the fault waits until RDS reports the instance available again
        # No detection mark: detection is when the canary's orders first fail, which the evidence measures.
        scenario.mark(Milestone.FAILOVER, "available again")
        scenario.hold("canary", lambda s: s.ok, "orders acknowledged again", 600)

    after = state.db_state(scenario.clients, database.region, database.identifier)
    events = [e.message for e in state.db_events(scenario.clients, database.region, database.identifier, started)]
    scenario.timeline.record("state", "rds after failover", availability_zone=after.availability_zone,
                             secondary_availability_zone=after.secondary_availability_zone, events=events)
    verdict = scenario.judge("multi_az_failover", source="canary", what="orders")
    scenario.bottleneck("the Multi-AZ failover")  # what X-Ray's traces say slowed checkout down
    assert (after.availability_zone, after.secondary_availability_zone) == (
        before.secondary_availability_zone, before.availability_zone), "AvailabilityZone and SecondaryAvailabilityZone swap"
    for message in FAILOVER_EVENTS:
        assert any(message in event for event in events), f"missing RDS event {message!r}; got {events}"
    assert verdict.passed, "\n".join(verdict.messages)
