"""The safety rules against the local stack (moto-backed STS and CloudWatch behind our control plane):
a wrong account stops before any mutating call, an alarm mid-fault rolls back and aborts, a dry run changes
nothing, and `gameday recover --dry-run` / `gameday scan` go through the same guard."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from base.deadline import Deadline, until
from environments.model import StopCondition
from environments import loader
from faults import network
from gameday.fixtures import LocalStackInfo
from faults.guard import AccountNotAllowed, Guard, Policy
from faults.journal import Journal
from faults.plan import DryRun
from faults.stopconditions import Aborted
from tests.conftest import worker_index
from tests.faults.conftest import Recorder

STACK = [{"Key": "gameday:stack", "Value": "securecart"}]
REGION = "us-west-2"
DEADLINE_S = 30


@pytest.fixture
def clients(local_stack: LocalStackInfo) -> Recorder:
    return Recorder(endpoint_url=local_stack.aws_endpoint)


@pytest.fixture
def subnet(clients: Recorder, request: pytest.FixtureRequest) -> Iterator[str]:
    """A tagged subnet in a VPC of its own (a /16 no other test of this worker uses), removed afterwards."""
    ec2 = clients("ec2", REGION)
    second = 90 + 4 * worker_index() + len(request.node.name) % 4
    vpc = ec2.create_vpc(CidrBlock=f"127.{second}.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.{second}.1.0/24", AvailabilityZone=f"{REGION}a",
                                  TagSpecifications=[{"ResourceType": "subnet", "Tags": STACK}])["Subnet"]["SubnetId"]
    yield subnet_id
    clients.forbid_mutations = False
    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=vpc)


def _local_policy(**changes: object) -> Policy:
    return dataclasses.replace(Policy.for_environment(loader.load("local")), **changes)  # type: ignore[arg-type]


def _acl(clients: Recorder, subnet: str) -> str:
    return str(clients("ec2", REGION).describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]["NetworkAclId"])


def _fault(clients: Recorder, subnet: str, tmp_path: Path, guard: Guard) -> network.IsolateAz:
    return network.IsolateAz(clients, Journal("local-test", tmp_path / "journal"), region=REGION,
                             availability_zone=f"{REGION}a", subnet_id=subnet, guard=guard)


def test_a_non_allowlisted_account_stops_before_any_mutating_call(clients: Recorder, subnet: str, tmp_path: Path) -> None:
    clients.wire.clear()
    clients.forbid_mutations = True
    with pytest.raises(AccountNotAllowed, match=r"the credentials are for account 123456789012 .* allows only account "
                                                r"999999999999"):
        with _fault(clients, subnet, tmp_path, Guard(_local_policy(account_id="999999999999"))):
            raise AssertionError("the body must not run")
    assert clients.wire == ["GetCallerIdentity"]


def _p95_alarm(clients: Recorder, name: str) -> StopCondition:
    """A real alarm, "checkout p95 over 500 ms in 3 of 3 periods" (10 s, high resolution), evaluated to OK by the stack."""
    cloudwatch = clients("cloudwatch", REGION)
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="SecureCart/Checkout", MetricName="Latency",
                                Dimensions=[{"Name": "Region", "Value": REGION}, {"Name": "Test", "Value": name}],
                                ExtendedStatistic="p95", Period=10, EvaluationPeriods=3, DatapointsToAlarm=3,
                                Threshold=500.0, ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
    until(lambda: cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] == "OK", DEADLINE_S,
          f"the local stack to evaluate {name} to OK (no data, missing data not breaching)", 0.05)
    return StopCondition(alarm_name=name, region=REGION)


def test_an_alarm_mid_fault_rolls_back_and_aborts(clients: Recorder, subnet: str, tmp_path: Path) -> None:
    """No state is set by hand: slow checkout latency is published, and the stack's evaluation fires the alarm."""
    original = _acl(clients, subnet)
    condition = _p95_alarm(clients, f"checkout-p95-{worker_index()}")
    guard = Guard(_local_policy(stop_conditions=(condition,), watch_interval_s=0.05))
    interrupted = True
    try:
        with pytest.raises(Aborted, match=rf"{condition.alarm_name} \({REGION}\) is in ALARM: Threshold Crossed: "
                                          r"3 out of the last 3 datapoints \[.*\] were greater than the threshold \(500.0\)"):
            with _fault(clients, subnet, tmp_path, guard):
                assert _acl(clients, subnet) != original
                deadline = Deadline.after(DEADLINE_S)
                while not deadline.expired:  # checkout slows down: 900 ms at p95, published as the probes publish it
                    clients("cloudwatch", REGION).put_metric_data(Namespace="SecureCart/Checkout", MetricData=[{
                        "MetricName": "Latency", "Unit": "Milliseconds", "StorageResolution": 1,
                        "Dimensions": [{"Name": "Region", "Value": REGION}, {"Name": "Test", "Value": condition.alarm_name}],
                        "Values": [120.0, 900.0, 950.0], "Counts": [1.0, 10.0, 9.0]}])
                    deadline.sleep(0.2)
                interrupted = False
        assert interrupted, "the experiment's wait was not interrupted"
        assert _acl(clients, subnet) == original
        history = clients("cloudwatch", REGION).describe_alarm_history(
            AlarmName=condition.alarm_name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
        assert history[0]["HistorySummary"] == "Alarm updated from OK to ALARM"
    finally:
        clients.forbid_mutations = False
        clients("cloudwatch", REGION).delete_alarms(AlarmNames=[condition.alarm_name])


def test_a_dry_run_changes_nothing(clients: Recorder, subnet: str, tmp_path: Path) -> None:
    original = _acl(clients, subnet)
    guard = Guard(_local_policy(dry_run=True))
    clients.wire.clear()
    clients.forbid_mutations = True
    with pytest.raises(DryRun):
        with _fault(clients, subnet, tmp_path, guard):
            raise AssertionError("the body must not run")
    assert all(op.startswith(("Describe", "Get", "List")) for op in clients.wire)
    clients.forbid_mutations = False
    assert _acl(clients, subnet) == original
    [planned] = guard.plan.faults
    assert [c.operation for c in planned.calls] == ["CreateNetworkAcl"] + ["CreateNetworkAclEntry"] * 4 + [
        "ReplaceNetworkAclAssociation"]
    assert planned.targets[0].endswith(f":subnet/{subnet}")


def _cli(*args: str, tmp_path: Path, local_stack: LocalStackInfo) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GAMEDAY_JOURNAL_DIR=str(tmp_path / "journal"), GAMEDAY_INSTANCE=str(local_stack.instance))
    env.pop("GAMEDAY_DRY_RUN", None)
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_recover_dry_run_and_the_cli_guard(clients: Recorder, subnet: str, tmp_path: Path,
                                           local_stack: LocalStackInfo) -> None:
    original = _acl(clients, subnet)
    guard = Guard(_local_policy())
    fault = network.IsolateAz(clients, Journal(f"local-{local_stack.instance}", tmp_path / "journal"), region=REGION,
                              availability_zone=f"{REGION}a", subnet_id=subnet, guard=guard)
    fault._in_force = guard
    fault.entry = fault.journal.begin(fault.name, fault._journal_params())
    fault.inject(fault.entry)  # injected, then the process "dies"
    swapped = _acl(clients, subnet)
    assert swapped != original

    planned = _cli("recover", "--dry-run", tmp_path=tmp_path, local_stack=local_stack)
    assert planned.returncode == 0, planned.stderr
    assert "would roll back" in planned.stdout and "network.isolate_az" in planned.stdout
    assert f'ec2.ReplaceNetworkAclAssociation [{REGION}]' in planned.stdout and original in planned.stdout
    assert f'ec2.DeleteNetworkAcl [{REGION}] {{"NetworkAclId": "{swapped}"}}' in planned.stdout
    assert _acl(clients, subnet) == swapped, "recover --dry-run changed nothing"

    elsewhere = tmp_path / "staging.yaml"
    elsewhere.write_text(Path(loader.__file__).with_name("local.yaml").read_text()
                         .replace('account_id: "123456789012"', 'account_id: "999999999999"'))
    for command in ("recover", "scan"):
        refused = _cli(command, "--env", str(elsewhere), tmp_path=tmp_path, local_stack=local_stack)
        assert refused.returncode == 2
        assert f"gameday {command}: the credentials are for account 123456789012" in refused.stderr
    assert _acl(clients, subnet) == swapped

    recovered = _cli("recover", tmp_path=tmp_path, local_stack=local_stack)
    assert recovered.returncode == 0, recovered.stderr
    assert _acl(clients, subnet) == original
