"""Stop conditions: an alarm in ALARM before a fault refuses it; mid-fault it rolls everything back and aborts."""
from __future__ import annotations

import json
import threading
from pathlib import Path
import time
from typing import Any

import pytest

from base.deadline import Deadline, holds_within
from faults import network, route53
from faults import journal as journal_
from faults.guard import Guard
from faults.journal import Journal
from faults.stopconditions import Aborted, StopConditionMissing, Watcher, read
from base.timeline import Timeline
from tests.faults.conftest import Recorder, alarm, policy

STACK = [{"Key": "gameday:stack", "Value": "securecart"}]
DEADLINE_S = 30



def _subnet(clients: Recorder) -> str:
    ec2 = clients("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    return str(ec2.create_subnet(VpcId=vpc, CidrBlock="127.16.1.0/24", AvailabilityZone="us-east-1a", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": STACK}])["Subnet"]["SubnetId"])


def _acl(clients: Recorder, subnet: str) -> str:
    return str(clients("ec2", "us-east-1").describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]["NetworkAclId"])


def _fire(clients: Recorder, name: str = "checkout-5xx", reason: str = "Threshold Crossed: 1 datapoint [42.0] > 10") -> None:
    clients("cloudwatch", "us-east-1").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)


def _wait_to_be_interrupted() -> None:
    """The experiment's body: wait as an experiment waits for recovery. Only an interruption ends it early."""
    deadline = Deadline.after(DEADLINE_S)
    while not deadline.expired:
        deadline.sleep(0.05)  # short sleeps: the interruption arrives between two of them
    raise AssertionError(f"the body was not interrupted within {DEADLINE_S} s of the alarm")


def test_read_reports_state_and_reason(clients: Recorder) -> None:
    condition = alarm(clients)
    _fire(clients)
    [state] = read(clients, [condition])
    assert (state.name, state.region, state.state, state.firing) == ("checkout-5xx", "us-east-1", "ALARM", True)
    assert state.reason == "Threshold Crossed: 1 datapoint [42.0] > 10"
    assert state.arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx"


def test_a_missing_alarm_refuses_the_fault(clients: Recorder, journal: Journal) -> None:
    from environments.model import StopCondition

    subnet = _subnet(clients)
    guard = Guard(policy(stop_conditions=(StopCondition(alarm_name="nope", region="us-east-1"),)))
    with pytest.raises(StopConditionMissing, match="no CloudWatch alarm named 'nope' in us-east-1"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            pass
    assert clients.mutating() == ["CreateVpc", "CreateSubnet"]


def test_an_alarm_in_alarm_before_the_fault_aborts_the_run(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients)
    guard = Guard(policy(stop_conditions=(alarm(clients),)))
    _fire(clients)
    clients.calls.clear()
    with pytest.raises(Aborted, match=r"run aborted: stop-condition alarm checkout-5xx \(us-east-1\) is in ALARM: "
                                      r"Threshold Crossed: 1 datapoint \[42.0\] > 10; network.isolate_az was not injected"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            pass
    assert clients.mutating() == []
    clients("cloudwatch", "us-east-1").set_alarm_state(AlarmName="checkout-5xx", StateValue="OK", StateReason="quiet")
    with pytest.raises(Aborted, match="the run was aborted earlier"):  # an aborted run stays aborted
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            pass


def test_an_alarm_mid_fault_rolls_back_and_aborts(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients)
    original = _acl(clients, subnet)
    guard = Guard(policy(stop_conditions=(alarm(clients),)))
    timeline = Timeline("test")
    with pytest.raises(Aborted, match=r"checkout-5xx \(us-east-1\) is in ALARM: Threshold Crossed") as aborted:
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard, timeline=timeline):
            assert _acl(clients, subnet) != original
            _fire(clients)
            _wait_to_be_interrupted()
    assert aborted.value.alarm.reason.startswith("Threshold Crossed")
    assert guard.aborted is not None and guard.aborted.name == "checkout-5xx"
    assert _acl(clients, subnet) == original
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []
    [verdict] = timeline.of_kind("verdict")
    assert verdict.name == "aborted" and verdict.details["alarm"] == "checkout-5xx"
    assert verdict.details["reason"] == "Threshold Crossed: 1 datapoint [42.0] > 10"
    assert [e.details["outcome"] for e in timeline.of_kind("fault_rolled_back")] == ["aborted: checkout-5xx in ALARM"]
    # Every event is of a kind the evidence schema allows, or an aborted experiment leaves no evidence pack.
    schema = json.loads((Path(__file__).parents[2] / "reports" / "schema" / "evidence-v2.json").read_text())
    allowed = set(_find_event_kinds(schema))
    assert {event.kind for event in timeline} <= allowed, {event.kind for event in timeline} - allowed
    [fired] = [e for e in timeline.of_kind("state") if e.name == "stop condition checkout-5xx in ALARM"]
    assert fired.details["fault"] == "network.isolate_az"


def _find_event_kinds(node: Any) -> list[str]:
    """The evidence schema's enum of timeline event kinds (the one that lists "fault_injected")."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and "fault_injected" in enum:
            return [str(k) for k in enum]
        return [k for value in node.values() for k in _find_event_kinds(value)]
    if isinstance(node, list):
        return [k for value in node for k in _find_event_kinds(value)]
    return []


def test_one_alarm_rolls_back_every_active_fault_newest_first(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients)
    original = _acl(clients, subnet)
    route53_ = clients("route53", "us-east-1")
    check = route53_.create_health_check(CallerReference="c", HealthCheckConfig={
        "Type": "HTTP", "IPAddress": "127.16.1.4", "Port": 8080})["HealthCheck"]["Id"]
    route53_.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check, AddTags=STACK)
    guard = Guard(policy(stop_conditions=(alarm(clients),)))
    with pytest.raises(Aborted):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            with route53.FailHealthCheck(clients, journal, health_check_id=check, guard=guard):
                clients.calls.clear()
                _fire(clients)
                _wait_to_be_interrupted()
    undo = [op for op in clients.mutating() if op != "SetAlarmState"]
    assert undo == ["UpdateHealthCheck", "ReplaceNetworkAclAssociation", "DeleteNetworkAcl"]
    assert _acl(clients, subnet) == original
    assert not route53_.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckConfig"]["Inverted"]


def test_a_fault_in_another_thread_is_rolled_back_and_aborted(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients)
    original = _acl(clients, subnet)
    guard = Guard(policy(stop_conditions=(alarm(clients),)))
    rolled_back = threading.Event()
    outcome: list[BaseException] = []

    def experiment() -> None:
        try:
            with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a",
                                   subnet_id=subnet, guard=guard):
                _fire(clients)
                assert rolled_back.wait(DEADLINE_S), "the watcher did not roll back"
        except BaseException as error:
            outcome.append(error)

    runner = threading.Thread(target=experiment)
    runner.start()
    # Only the main thread can be interrupted; this one finishes its body, then learns.
    holds_within(lambda: guard.aborted and _acl(clients, subnet) == original, DEADLINE_S, 0.02)
    rolled_back.set()
    runner.join(DEADLINE_S)
    assert _acl(clients, subnet) == original
    assert len(outcome) == 1 and isinstance(outcome[0], Aborted)


def test_unreadable_alarms_abort_after_repeated_failures(clients: Recorder, journal: Journal) -> None:
    subnet = _subnet(clients)
    original = _acl(clients, subnet)
    guard = Guard(policy(stop_conditions=(alarm(clients),)))
    with pytest.raises(Aborted, match=r"is in UNREADABLE: could not read the alarms 3 times in a row"):
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet,
                               guard=guard):
            clients.fail_on = "DescribeAlarms"
            _wait_to_be_interrupted()
    clients.fail_on = None
    assert _acl(clients, subnet) == original


def test_watcher_reads_at_its_interval_until_stopped() -> None:
    reads: list[float] = []

    def read_alarms() -> list[Any]:
        reads.append(time.monotonic())
        return []

    watcher = Watcher(read_alarms, 0.01, lambda alarm: None).start()
    holds_within(lambda: len(reads) >= 3, DEADLINE_S, 0.01)
    watcher.stop()
    count = len(reads)
    assert count >= 3
    time.sleep(0.05)
    assert len(reads) == count, "a stopped watcher reads nothing more"
    with pytest.raises(ValueError, match="interval_s must be > 0"):
        Watcher(read_alarms, 0, lambda alarm: None)
