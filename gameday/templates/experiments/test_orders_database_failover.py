"""Orders database failover: the Multi-AZ database fails over and no customer order is lost.

Runbook
  Hypothesis  When the orders database's primary reboots with failover, RDS promotes the standby in
              the other Availability Zone. Checkout reconnects within the recovery time objective
              (RTO) and keeps every order it acknowledged (RPO 0).
  Objective   slos.scenarios.multi_az_failover in environments/<env>.yaml: rto_s, rpo_s, lost_orders.
  Blast       one RDS instance, tagged as a target, in an account and Region the environment allows.
  Abort       Ctrl-C, or a stop condition alarm (aws): the fault is rolled back; after a crash,
              `gameday recover` rolls back what the journal says is still injected.
  Run         `gameday run` (the local stack), `gameday run --env aws --dry-run` (the plan only, on
              the account in environments/aws.yaml), then `gameday run --env aws`.
"""
from __future__ import annotations

import pytest

from gameday import RebootWithFailover, Scenario, db_state


@pytest.mark.gameday
@pytest.mark.failover
@pytest.mark.rds
def test_orders_survive_a_database_failover(scenario: Scenario) -> None:
    """Reboot the orders database with failover while customers place orders."""
    database = scenario.stack.database
    assert database is not None, "the reference stack has an orders database"

    # 1. Steady state: the database is Multi-AZ, and customers' orders are acknowledged.
    before = db_state(scenario.clients, database.region, database.identifier)
    assert before.secondary_availability_zone, "the orders database must be Multi-AZ"
    with scenario.observe(dns=False, checkout=False, canary=True, vantage=["virginia"]):
        scenario.wait_until(lambda: scenario.canary is not None and len(scenario.canary.acks) >= 5,
                            "steady state: orders acknowledged", timeout_aws_s=300)

        # 2. The fault: reboot with failover. Leaving the block waits until RDS reports the instance available.
        with scenario.inject(RebootWithFailover, region=database.region, db_instance_identifier=database.identifier,
                             wait_delay_s=scenario.interval_s):
            pass

        # 3. Recovery: orders are acknowledged again, and stay so for the stability window.
        scenario.hold("canary", lambda sample: sample.ok, "orders acknowledged again", timeout_aws_s=600)

    # 4. The verdict: the standby took over, within the RTO, and no acknowledged order is missing.
    after = db_state(scenario.clients, database.region, database.identifier)
    assert after.availability_zone == before.secondary_availability_zone, "the standby's AZ now holds the primary"
    verdict = scenario.judge("multi_az_failover", source="canary", what="orders")
    assert verdict.passed, "\n".join(verdict.messages)
