"""`injector: fis`: the exact FIS calls, their rollback, recovery and leftovers (moto's FIS is a state machine;
botocore's Stubber plays what moto cannot: an experiment that fails)."""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from botocore.stub import ANY, Stubber
from moto.moto_api import state_manager

from environments.model import StopCondition
from faults import REGISTRY, directconnect, leftovers, network, rds
from faults import journal as journal_
from base.errors import FaultError
from faults.guard import FisSettings, Guard
from faults.journal import Journal
from base.timeline import Timeline
from tests.faults.conftest import MOTO_ACCOUNT, STACK_TAG, Recorder, alarm, policy

# The event kinds the evidence pack's schema accepts: a timeline with any other kind is not written.
_SCHEMA = json.loads((Path(__file__).parents[2] / "reports" / "schema" / "evidence-v2.json").read_text())
EVIDENCE_KINDS = set(_SCHEMA["$defs"]["scenario"]["properties"]["timeline"]["properties"]["events"]["items"]
                     ["properties"]["kind"]["enum"])

STACK = [{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}]
ROLE = f"arn:aws:iam::{MOTO_ACCOUNT}:role/gameday-fis"


@pytest.fixture(autouse=True)
def slow_experiments() -> Iterator[None]:
    """Each experiment state lasts 3 GetExperiment calls, so rollback finds it running and must stop it."""
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 3})
    yield
    state_manager.unset_transition("fis::experiment")


def _fis_guard(clients: Recorder, **changes: Any) -> Guard:
    conditions = (alarm(clients), alarm(clients, "orders-db-cpu", "us-west-2"))
    return Guard(policy(injector="fis", stop_conditions=conditions, **changes))


def _subnet(clients: Recorder) -> tuple[str, str]:
    ec2 = clients("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.16.1.0/24", AvailabilityZone="us-east-1a", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": STACK}])["Subnet"]
    return subnet["SubnetId"], subnet["SubnetArn"]


def _calls(clients: Recorder, operation: str) -> list[dict[str, Any]]:
    return [params for _, op, params in clients.calls if op == operation]


def test_isolate_az_as_a_fis_experiment(clients: Recorder, journal: Journal) -> None:
    subnet, arn = _subnet(clients)
    guard = _fis_guard(clients)
    timeline = Timeline("test")
    with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                           guard=guard, timeline=timeline) as fault:
        assert fault.entry is not None
        entry_id = fault.entry.id
        assert fault.entry.state["fis_template_id"] and fault.entry.state["fis_experiment_id"]
    [created] = _calls(clients, "CreateExperimentTemplate")
    tags = {"gameday:fault": entry_id, "gameday:run": "20250101T000000Z-test01", "Name": "gameday network.isolate_az"}
    assert created == {
        "clientToken": f"{entry_id}-template",
        "description": f"gameday network.isolate_az (run 20250101T000000Z-test01, entry {entry_id})",
        "roleArn": ROLE,
        # Only the alarm in the experiment's Region can be a FIS stop condition; gameday watches the other itself.
        "stopConditions": [{"source": "aws:cloudwatch:alarm",
                            "value": f"arn:aws:cloudwatch:us-east-1:{MOTO_ACCOUNT}:alarm:checkout-5xx"}],
        "targets": {"Subnets": {"resourceType": "aws:ec2:subnet", "resourceArns": [arn], "selectionMode": "ALL"}},
        "actions": {"isolate": {"actionId": "aws:network:disrupt-connectivity",
                                "parameters": {"duration": "PT60M", "scope": "all"}, "targets": {"Subnets": "Subnets"}}},
        "tags": tags,
    }
    [started] = _calls(clients, "StartExperiment")
    assert started == {"clientToken": f"{entry_id}-experiment", "experimentTemplateId": ANY, "tags": tags}
    mutating = [op for op in clients.mutating() if op not in ("PutMetricAlarm", "SetAlarmState", "CreateVpc", "CreateSubnet")]
    assert mutating == ["CreateExperimentTemplate", "StartExperiment", "StopExperiment", "DeleteExperimentTemplate"]
    assert not [op for op in clients.mutating() if op.endswith("NetworkAcl") or op.endswith("Association")], \
        "with FIS, gameday never touches the NACLs itself"
    actions = [e for e in timeline.of_kind("note") if e.name == "fis_action"]
    assert {e.kind for e in timeline} <= EVIDENCE_KINDS, "every event must be one the evidence schema accepts"
    assert [(e.details["action"], e.details["action_id"], e.details["status"]) for e in actions] == [
        ("isolate", "aws:network:disrupt-connectivity", "stopped")]
    assert actions[0].details["started_at"] and actions[0].details["ended_at"]
    fis = clients("fis", "us-east-1")
    assert fis.list_experiment_templates()["experimentTemplates"] == []
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []
    assert leftovers.scan(clients, ["us-east-1"], STACK_TAG) == []


def test_reboot_with_failover_as_a_fis_experiment(clients: Recorder, journal: Journal) -> None:
    clients("rds", "us-east-1").create_db_instance(
        DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="p" * 12, MultiAZ=True, Tags=STACK)
    guard = _fis_guard(clients, fis=FisSettings(role_arn="arn:aws:iam::123456789012:role/chaos", poll_s=0.01, timeout_s=10))
    with rds.RebootWithFailover(clients, journal, region="us-east-1", db_instance_identifier="orders", guard=guard,
                                wait_delay_s=0.01):
        pass
    [created] = _calls(clients, "CreateExperimentTemplate")
    assert created["roleArn"] == "arn:aws:iam::123456789012:role/chaos"
    assert created["targets"] == {"DBInstances": {"resourceType": "aws:rds:db", "selectionMode": "ALL",
                                                  "resourceArns": [f"arn:aws:rds:us-east-1:{MOTO_ACCOUNT}:db:orders"]}}
    assert created["actions"] == {"reboot": {"actionId": "aws:rds:reboot-db-instances",
                                             "parameters": {"forceFailover": "true"}, "targets": {"DBInstances": "DBInstances"}}}
    ops = clients.mutating()
    assert "StopExperiment" not in ops, "a reboot runs to its end; stopping it would undo nothing"
    assert "RebootDBInstance" not in ops and ops[-1] == "DeleteExperimentTemplate"
    assert _calls(clients, "DescribeDBInstances")[-1] == {"DBInstanceIdentifier": "orders"}  # waited until available


def test_a_failed_start_deletes_the_template(clients: Recorder, journal: Journal) -> None:
    subnet, _ = _subnet(clients)
    guard = _fis_guard(clients)
    clients.fail_on = "StartExperiment"
    with pytest.raises(FaultError, match="network.isolate_az: injecting failed with Throttling"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            pass
    clients.fail_on = None
    assert clients.mutating()[-2:] == ["StartExperiment", "DeleteExperimentTemplate"]
    assert clients("fis", "us-east-1").list_experiment_templates()["experimentTemplates"] == []


def test_an_experiment_that_fails_before_its_action_runs(clients: Recorder, journal: Journal) -> None:
    """moto cannot make an experiment fail; the Stubber plays FIS, call by call, with the exact parameters."""
    subnet, arn = _subnet(clients)
    guard = _fis_guard(clients)
    fis = clients("fis", "us-east-1")
    stub = Stubber(fis)
    now = datetime.datetime.now(datetime.timezone.utc)
    failed = {"experiment": {"id": "exp-1", "state": {"status": "failed", "reason": "Role is not authorized"},
                             "actions": {"isolate": {"actionId": "aws:network:disrupt-connectivity",
                                                     "state": {"status": "cancelled", "reason": "Experiment failed"},
                                                     "startTime": now, "endTime": now}}}}
    stub.add_response("create_experiment_template", {"experimentTemplate": {"id": "tmpl-1"}},
                      {"clientToken": ANY, "description": ANY, "roleArn": ROLE, "stopConditions": ANY, "tags": ANY,
                       "targets": {"Subnets": {"resourceType": "aws:ec2:subnet", "resourceArns": [arn], "selectionMode": "ALL"}},
                       "actions": ANY})
    stub.add_response("start_experiment", {"experiment": {"id": "exp-1", "state": {"status": "initiating"}}},
                      {"clientToken": ANY, "experimentTemplateId": "tmpl-1", "tags": ANY})
    stub.add_response("get_experiment", failed, {"id": "exp-1"})  # awaiting the action: the experiment failed
    stub.add_response("get_experiment", failed, {"id": "exp-1"})  # rollback: already over, nothing to stop
    stub.add_response("get_experiment", failed, {"id": "exp-1"})  # rollback: wait for the end
    stub.add_response("delete_experiment_template", {"experimentTemplate": {"id": "tmpl-1"}}, {"id": "tmpl-1"})
    timeline = Timeline("test")
    with stub:
        with pytest.raises(FaultError, match=r"FIS experiment exp-1 ended failed \(Role is not authorized\) while gameday "
                                             r"awaited action isolate \(aws:network:disrupt-connectivity\) to start"):
            with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a",
                                   subnet_id=subnet, guard=guard, timeline=timeline):
                pass
        stub.assert_no_pending_responses()
    assert [e.details["status"] for e in timeline.of_kind("note") if e.name == "fis_action"] == ["cancelled"]
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []


def test_recover_and_scan_a_killed_fis_run(clients: Recorder, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    from faults import fis

    # `gameday recover` has no guard, so it polls FIS at the default 5 s; poll fast here.
    monkeypatch.setattr(fis, "settings_of", lambda fault: FisSettings(poll_s=0.01, timeout_s=10))
    subnet, _ = _subnet(clients)
    guard = _fis_guard(clients)
    fault = network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                              guard=guard)
    # What __enter__ does up to the injection; then the process "dies": no rollback, no watcher.
    fault._in_force, fault.injector = guard, "fis"
    fault.caller = guard.check_caller(clients, fault.regions(), fault.name)
    fault.resources = fault.discover(fault.caller)
    fault.entry = journal.begin(fault.name, fault._journal_params())
    fault.inject(fault.entry)
    found = leftovers.scan(clients, ["us-east-1"], STACK_TAG)
    assert {item.kind for item in found} == {"fis-experiment-template", "fis-experiment"}
    assert all("20250101T000000Z-test01" in item.detail for item in found)
    results = leftovers.recover("test-target", clients, journal.directory.parent)
    assert [(r.fault, r.outcome) for r in results] == [("network.isolate_az", "rolled back")]
    assert clients.mutating()[-2:] == ["StopExperiment", "DeleteExperimentTemplate"]
    assert leftovers.scan(clients, ["us-east-1"], STACK_TAG) == []


def test_stop_conditions_without_alarms_in_the_region_map_to_none(clients: Recorder, journal: Journal) -> None:
    subnet, _ = _subnet(clients)
    guard = Guard(policy(injector="fis", stop_conditions=(StopCondition(alarm_name=alarm(clients, "db", "us-west-2").alarm_name,
                                                                         region="us-west-2"),)))
    with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                           guard=guard):
        pass
    [created] = _calls(clients, "CreateExperimentTemplate")
    assert created["stopConditions"] == [{"source": "none"}]


def test_the_aws_guide_lists_every_fault_fis_can_run() -> None:
    from faults import fis
    guide = (Path(__file__).parents[2] / "docs" / "real-aws.md").read_text()
    section = guide.split("## AWS FIS as the injector", 1)[1].split("\n## ", 1)[0]
    listed = dict(re.findall(r"^\| `([\w.]+)` \| `(aws:[\w:-]+)`", section, re.MULTILINE))
    assert set(listed) == {name for name, cls in REGISTRY.items() if cls.fis_capable}, listed
    # The action each fault's inject builds (faults/network.py, rds.py, dynamodb.py, directconnect.py).
    assert listed == {"network.isolate_az": fis.disrupt_connectivity([], 60).action_id,
                      "network.isolate_region": fis.disrupt_connectivity([], 60).action_id,
                      "rds.reboot_with_failover": fis.reboot_db_instances([]).action_id,
                      "dynamodb.pause_replication": fis.pause_replication([], 60).action_id,
                      "directconnect.disconnect_vif": directconnect.disconnect_vif_action([], 60).action_id}
