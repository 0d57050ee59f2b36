"""Region evacuation: us-east-1 is lost; users fail over, and the DR runbook promotes the replica.

The whole Region is cut off by NACL. Route 53 moves users to the surviving Regions, but their
checkout has no database until the runbook runs: promote the ap-southeast-1 read replica and
repoint the writer name (orders.db.<zone>) at it. Replication was asynchronous, so orders
acknowledged just before the cut may be gone: the canary measures exactly which, and the RPO is
judged against the SLO. The replica's lag as CloudWatch reported it before the cut is recorded
beside it: what RDS said the exposure was, against what was lost. Promotion is one-way, so
afterwards the stack is restored: the writer name goes back, the promoted copy is deleted and a
new replica is built.
"""
from __future__ import annotations

from typing import Any

import pytest

from experiments.scenario import Scenario
from faults.network import IsolateRegion
from faults.rds import PromoteReplica
from stack.builder import BuildOptions, Builder
from stack.handles import DatabaseHandle


def point_writer_at(scenario: Scenario, database: DatabaseHandle) -> None:
    """The runbook step: repoint the writer CNAME (Route 53 change, the same call on AWS)."""
    endpoint = scenario.clients("rds", database.region).describe_db_instances(
        DBInstanceIdentifier=database.identifier)["DBInstances"][0]["Endpoint"]["Address"]
    scenario.clients("route53", "us-east-1").change_resource_record_sets(
        HostedZoneId=scenario.stack.zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": scenario.stack.names.database, "Type": "CNAME", "TTL": 5, "ResourceRecords": [{"Value": endpoint}]}}]})
    scenario.timeline.record("api_call", "route53.ChangeResourceRecordSets", writer=scenario.stack.names.database,
                             target=endpoint)


def restore(scenario: Scenario, primary: DatabaseHandle, replica: DatabaseHandle) -> None:
    point_writer_at(scenario, primary)
    rds = scenario.clients("rds", replica.region)
    rds.delete_db_instance(DBInstanceIdentifier=replica.identifier, SkipFinalSnapshot=True)
    rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=replica.identifier,
                                               WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})
    Builder(scenario.environment, scenario.clients, BuildOptions(wait_delay_s=0.25)).build()
    scenario.timeline.record("note", "stack restored: writer back in us-east-1, new read replica built")


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
            with scenario.inject(IsolateRegion, region=lost, subnet_ids=subnets):
                scenario.wait_until(lambda: scenario.region_of(scenario.resolve(virginia).addresses[0]) != lost,
                                    "Route 53 sends Virginia out of the lost Region", 600)
                scenario.timeline.record("state", "users moved", milestone="detection")
                with scenario.inject(PromoteReplica, region=replica.region, db_instance_identifier=replica.identifier,
                                     wait_delay_s=scenario.interval_s):
                    pass  # leaving the block waits until the promoted instance is available
                point_writer_at(scenario, replica)
                scenario.timeline.record("state", "replica promoted, writer repointed", milestone="failover")
                scenario.hold("checkout", lambda s: s.ok, "checkout answers from Virginia", 900)
                scenario.hold("canary", lambda s: s.ok, "orders acknowledged by the promoted database", 900)
                scenario.timeline.record("state", "recovered", milestone="recovery")
                verdict = scenario.judge("region_evacuation", samples=scenario.samples("checkout") + scenario.samples("canary"),
                                         what="checkout and orders")
    finally:
        restore(scenario, primary, replica)
    assert verdict.passed, "\n".join(verdict.messages)
