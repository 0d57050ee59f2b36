"""AZ outage: the primary database's Availability Zone is cut off by NACL, the way AWS FIS does it.

Nothing tells RDS or Route 53 about the fault: RDS must notice its primary is unreachable and fail
over to the standby in the other AZ by itself; Route 53's checkers must find the isolated checkout
instance dead and stop handing out its address. Users in Virginia keep ordering; every acknowledged
order must survive.
"""
from __future__ import annotations

import pytest

from experiments.scenario import Scenario
from faults.network import IsolateAz
from probes import state


@pytest.mark.failover
@pytest.mark.gameday
@pytest.mark.az_outage
def test_losing_the_primary_database_az(scenario: Scenario) -> None:
    """Isolate the primary DB's AZ: RDS fails over by itself, DNS drops the dead AZ, nothing is lost."""
    database = scenario.stack.database
    assert database is not None
    before = scenario.database_available()
    dead_az = before.availability_zone
    subnet = scenario.stack.subnet(dead_az)
    dead_addresses = {i.private_ip for i in scenario.stack.instances_in(availability_zone=dead_az)}
    virginia = scenario.vantage("virginia")

    with scenario.observe(dns=False, checkout=True, canary=True, vantage=["virginia"]):
        scenario.steady_state()
        scenario.wait_until(lambda: scenario.canary and len(scenario.canary.acks) >= 5, "orders acknowledged", 300)
        with scenario.inject(IsolateAz, region=database.region, availability_zone=dead_az, subnet_id=subnet.subnet_id):
            scenario.wait_until(lambda: state.db_state(scenario.clients, database.region, database.identifier)
                                .availability_zone not in ("", dead_az), "RDS failed over out of the dead AZ", 600)
            scenario.timeline.record("state", "database failed over", milestone="failover")
            scenario.wait_until(lambda: not set(scenario.resolve(virginia, scenario.stack.names.regional(database.region))
                                               .addresses) & dead_addresses,
                                "Route 53 stopped answering with the dead AZ's instances", 600)
            scenario.timeline.record("state", "DNS avoids the dead AZ")  # detection: measured from the probes
            scenario.hold("checkout", lambda s: s.ok, "checkout answers from Virginia", 600)
            scenario.hold("canary", lambda s: s.ok, "orders acknowledged again", 600)
            scenario.timeline.record("state", "recovered")  # recovery: injection + the measured RTO
        after = state.db_state(scenario.clients, database.region, database.identifier)

    verdict = scenario.judge("az_outage", samples=scenario.samples("checkout") + scenario.samples("canary"),
                             what="checkout and orders")
    scenario.bottleneck("the AZ outage")  # what X-Ray's traces say slowed checkout down
    assert after.availability_zone != dead_az
    assert verdict.passed, "\n".join(verdict.messages)
