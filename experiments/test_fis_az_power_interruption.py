"""AZ power interruption, from AWS FIS's scenario library: the very template file a team runs with the AWS CLI.

examples/fis/az-power-interruption.json cuts us-east-1a's subnet off, stops its checkout instances
(they start again when power returns) and fails the orders database over to its standby. gameday
imports the file unchanged as a fault, and measures what users in Virginia saw: checkout and orders
must recover within the AZ-outage SLO, and no acknowledged order may be lost.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.scenario import Scenario
from faults.fistemplate import FisTemplate
from faults.rds import RebootWithFailover
from probes import state

TEMPLATE = Path(__file__).parents[1] / "examples" / "fis" / "az-power-interruption.json"


def _template_az() -> str:
    """The AZ the template's subnet filter names (the one that loses power)."""
    subnet = json.loads(TEMPLATE.read_text())["targets"]["Subnet"]
    return str(next(f for f in subnet["filters"] if f["path"] == "AvailabilityZone")["values"][0])


@pytest.fixture
def primary_in_the_dark_az(scenario: Scenario) -> str:
    """The AZ the template darkens, with the orders database's primary in it: the precondition, in setup.

    An earlier experiment may have left the primary in the other AZ (RDS does not fail back by itself), so it
    is failed back here first. In setup, not in the test's call: pytest records the call's duration, which
    ``-n 2`` plans by, and that duration should be the experiment's and not depend on what ran before it.
    """
    database = scenario.stack.database
    assert database is not None
    dead_az = _template_az()
    if scenario.database_available().availability_zone != dead_az:
        with scenario.inject(RebootWithFailover, region=database.region, db_instance_identifier=database.identifier):
            scenario.wait_until(lambda: (s := state.db_state(scenario.clients, database.region, database.identifier))
                                .availability_zone == dead_az and s.status == "available",
                                f"the primary back in {dead_az}", 600)
    return dead_az


@pytest.mark.failover
@pytest.mark.gameday
@pytest.mark.az_outage
def test_az_power_interruption_from_the_fis_template(scenario: Scenario, primary_in_the_dark_az: str) -> None:
    """Run the FIS template: the AZ goes dark, the database fails over, checkout and orders recover, nothing is lost."""
    database = scenario.stack.database
    assert database is not None
    dead_az = primary_in_the_dark_az
    dead_instances = [i.instance_id for i in scenario.stack.instances_in(availability_zone=dead_az)]

    with scenario.observe(dns=False, checkout=True, canary=True, vantage=["virginia"]):
        scenario.steady_state()
        scenario.wait_until(lambda: scenario.canary and len(scenario.canary.acks) >= 5, "orders acknowledged", 300)
        with scenario.inject(FisTemplate, path=TEMPLATE, region=database.region) as fault:
            assert isinstance(fault, FisTemplate)
            scenario.wait_until(lambda: state.db_state(scenario.clients, database.region, database.identifier)
                                .availability_zone not in ("", dead_az), "RDS failed over out of the dark AZ", 600)
            scenario.timeline.record("state", "database failed over", milestone="failover")
            ended = fault.wait_for_end()
            scenario.timeline.record("state", "FIS experiment completed", experiment_id=ended["id"])
            scenario.hold("checkout", lambda s: s.ok, "checkout answers from Virginia", 600)
            scenario.hold("canary", lambda s: s.ok, "orders acknowledged again", 600)
            scenario.timeline.record("state", "recovered")

    actions = {name: action["state"]["status"] for name, action in ended["actions"].items()}
    assert actions == {"Pause-Network-Connectivity": "completed", "Stop-Instances": "completed",
                       "Failover-RDS": "completed"}, actions
    ec2 = scenario.clients("ec2", database.region)
    restarted = [i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=dead_instances)["Reservations"]
                 for i in r["Instances"]]
    assert restarted and set(restarted) == {"running"}, f"the dark AZ's instances after the experiment: {restarted}"
    cut = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id",
                                              "Values": [scenario.stack.subnet(dead_az).subnet_id]}])["NetworkAcls"]
    assert not any(t["Key"] == "managedByFIS" for acl in cut for t in acl.get("Tags") or []), "the FIS NACL is still in place"
    verdict = scenario.judge("az_outage", samples=scenario.samples("checkout") + scenario.samples("canary"),
                             what="checkout and orders")
    assert verdict.passed, "\n".join(verdict.messages)
