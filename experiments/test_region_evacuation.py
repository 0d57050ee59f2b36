"""Region evacuation: us-east-1 is lost; users fail over, and the DR runbook promotes the replica.

The whole Region is cut off by NACL. Route 53 moves users to the surviving Regions, but their
checkout has no database until the runbook runs: promote the ap-southeast-1 read replica and
repoint the writer name (orders.db.<zone>) at it. Replication was asynchronous, so orders
acknowledged just before the cut may be gone: the canary measures exactly which, and the RPO is
judged against the SLO. The replica's lag as CloudWatch reported it before the cut is recorded
beside it: what RDS said the exposure was, against what was lost.

Both runbook steps are journaled (faults.runbook), so a run killed at any point leaves what
`gameday recover` needs to put the topology back. They stay in force after the Region returns, and
leaving them fails back: the writer name goes back, the orders the promoted copy took are copied to
the writer, the promoted copy is deleted and a new replica is built.

The Region's catalog replica stops replicating too (dynamodb.pause_replication): a NACL does not stop
DynamoDB global-table replication on AWS (it does not run through the VPC), so losing the Region in a
rehearsal takes the fault that does, for as long as the Region is cut off.
"""
from __future__ import annotations

import contextlib

import pytest

from experiments.scenario import Scenario
from faults import runbook
from faults.dynamodb import PauseReplication
from faults.network import IsolateRegion
from stack import topology


def restore(scenario: Scenario) -> None:
    """Put the DR topology back to the spec: the code the runbook steps' rollback, `gameday recover` and
    `gameday stack build` use (stack.topology). A no-op when the steps' rollback already did it."""
    for line in topology.converge(scenario.clients, topology.spec_of(scenario.environment), scenario.nameserver,
                                  copy_back=True, delay_s=scenario.interval_s, attempts=600):
        scenario.timeline.record("note", f"stack restored: {line}")


@pytest.mark.failover
@pytest.mark.gameday
@pytest.mark.region
def test_evacuating_a_lost_region(scenario: Scenario) -> None:
    """Lose us-east-1: users fail over, the replica is promoted, RPO from the canary meets the SLO."""
    primary, replica = scenario.stack.database, scenario.stack.replica
    assert primary is not None and replica is not None, "the reference stack has a cross-Region replica"
    lost = primary.region
    subnets = [s.subnet_id for s in scenario.stack.subnets if s.region == lost]
    virginia = scenario.vantage("virginia")
    try:
        with scenario.observe(dns=False, checkout=True, canary=True, replica_lag=True, vantage=["virginia"]):
            scenario.steady_state()
            scenario.wait_until(lambda: scenario.canary and len(scenario.canary.acks) >= 5, "orders acknowledged", 300)
            lag = scenario.wait_until(lambda: [s for s in scenario.samples("replica-lag") if s.ok],
                                      "CloudWatch reports the replica's ReplicaLag", 300)[-1]
            scenario.timeline.record("state", f"replica lag before the cut: {lag.value:.1f} s (CloudWatch ReplicaLag)",
                                     replica_lag_s=lag.value)
            # The runbook steps outlive the Region's loss: they are undone (failback) once it is back.
            with contextlib.ExitStack() as steps:
                with contextlib.ExitStack() as region_lost:
                    region_lost.enter_context(scenario.inject(IsolateRegion, region=lost, subnet_ids=subnets))
                    # RTO runs from the Region's loss: what users lived through, detection and runbook included.
                    # (Timed from a runbook step instead, it would start after the promotion's wait and read ~0 s.)
                    lost_at = scenario.injected_at
                    if scenario.stack.catalog is not None:
                        region_lost.enter_context(scenario.inject(PauseReplication, region=lost,
                                                                  table_name=scenario.stack.catalog.table))
                    scenario.wait_until(lambda: scenario.region_of(scenario.resolve(virginia).addresses[0]) != lost,
                                        "Route 53 sends Virginia out of the lost Region", 600)
                    scenario.timeline.record("state", "users moved")  # detection: measured from the probes
                    steps.enter_context(scenario.inject(
                        runbook.PromoteReplica, region=replica.region, db_instance_identifier=replica.identifier,
                        secret_id=replica.secret_id, secret_region=primary.region, nameserver=scenario.nameserver,
                        wait_delay_s=scenario.interval_s))
                    steps.enter_context(scenario.inject(
                        runbook.PointWriter, zone_id=scenario.stack.zone_id, record_name=scenario.stack.names.database,
                        region=replica.region, db_instance_identifier=replica.identifier))
                    scenario.injected_at = lost_at
                    scenario.timeline.record("state", "replica promoted, writer repointed", milestone="failover")
                    scenario.hold("checkout", lambda s: s.ok, "checkout answers from Virginia", 900)
                    scenario.hold("canary", lambda s: s.ok, "orders acknowledged by the promoted database", 900)
                    scenario.timeline.record("state", "recovered")  # recovery: injection + the measured RTO
                    verdict = scenario.judge("region_evacuation",
                                             samples=scenario.samples("checkout") + scenario.samples("canary"),
                                             what="checkout and orders")
                    scenario.bottleneck("the Region evacuation")  # what X-Ray's traces say slowed checkout down
    finally:
        restore(scenario)
    assert verdict.passed, "\n".join(verdict.messages)
    # Losing the Region's writer stops orders until the runbook has run: a measurement with no outage is wrong.
    assert verdict.rto is not None and verdict.rto.outages, "the Region's loss was never seen by checkout or the canary"
