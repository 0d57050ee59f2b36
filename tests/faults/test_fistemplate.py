"""The example FIS templates are CreateExperimentTemplate input as botocore's model defines it, and load as faults."""
from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from base.errors import FaultError
from faults.fistemplate import FisTemplate, load
from faults.guard import Guard
from faults.journal import Journal
from faults.plan import DryRun
from tests.faults.conftest import STACK_TAG, Recorder, policy

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "fis").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_validates_against_botocores_fis_model(path: Path) -> None:
    shape = botocore.session.get_session().get_service_model("fis").operation_model("CreateExperimentTemplate").input_shape
    # clientToken is an idempotency token: boto3 and the AWS CLI fill it in before validating, as here.
    assert shape.members["clientToken"].metadata.get("idempotencyToken")
    report = ParamValidator().validate({"clientToken": "x", **json.loads(path.read_text())}, shape)
    assert not report.has_errors(), report.generate_report()


def test_both_scenarios_are_there() -> None:
    assert {p.name for p in EXAMPLES} >= {"az-power-interruption.json", "cross-region-connectivity.json"}


def test_a_file_that_is_not_a_template_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"actions": {"a": {"actionId": "aws:fis:wait"}}, "experimentTemplateId": "x"}))
    with pytest.raises(FaultError, match=r"t\.json: experimentTemplateId not CreateExperimentTemplate input"):
        load(bad)
    bad.write_text("{")
    with pytest.raises(FaultError, match="not JSON"):
        load(bad)
    with pytest.raises(FaultError, match="cannot read"):
        load(tmp_path / "missing.json")
    bad.write_text('{"actions": {"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M", "duration": "PT5M"}}}}')
    with pytest.raises(FaultError, match=r"t\.json: the key 'duration' is given twice in one object; a key may appear once"):
        load(bad)


def test_a_dry_run_plans_the_experiment_on_the_resources_the_targets_can_select(
        clients: Recorder, journal: Journal, tmp_path: Path) -> None:
    ec2 = clients("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    tags = [{"ResourceType": "subnet", "Tags": [{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}]}]
    dark = ec2.create_subnet(VpcId=vpc, CidrBlock="127.16.1.0/24", AvailabilityZone="us-east-1a",
                             TagSpecifications=tags)["Subnet"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="127.16.2.0/24", AvailabilityZone="us-east-1b", TagSpecifications=tags)
    path = tmp_path / "cut.json"
    path.write_text(json.dumps({
        "description": "cut us-east-1a", "roleArn": "arn:aws:iam::123456789012:role/fis", "stopConditions": [{"source": "none"}],
        "targets": {"Subnet": {"resourceType": "aws:ec2:subnet", "resourceTags": {STACK_TAG[0]: STACK_TAG[1]},
                               "filters": [{"path": "AvailabilityZone", "values": ["us-east-1a"]}], "selectionMode": "ALL"}},
        "actions": {"Cut": {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": "PT2M"},
                            "targets": {"Subnets": "Subnet"}}}}))
    dry = Guard(policy(dry_run=True, stop_conditions=()))
    clients.forbid_mutations = True
    with pytest.raises(DryRun):
        with FisTemplate(clients, journal, path=path, guard=dry):
            raise AssertionError("a dry run never runs the experiment's body")
    [planned] = dry.plan.faults
    assert list(planned.targets) == [dark["SubnetArn"]]
    assert [c.operation for c in planned.calls] == ["CreateExperimentTemplate", "StartExperiment"]
    assert [c.operation for c in planned.rollback] == ["StopExperiment", "DeleteExperimentTemplate"]
    assert not journal.path.exists()
