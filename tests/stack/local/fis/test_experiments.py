"""Experiments run their actions through the API, in order, and leave nothing behind however they end."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from base.deadline import until
from tests.stack.local.fis.conftest import Stack, acl_of
from tests.stack.local.fis.test_templates import ROLE


def start(stack: Stack, actions: dict[str, Any], targets: dict[str, Any],
          stop_conditions: list[dict[str, str]] | None = None) -> str:
    fis = stack.client("fis")
    created = fis.create_experiment_template(description="t", roleArn=ROLE, actions=actions, targets=targets,
                                             stopConditions=stop_conditions or [{"source": "none"}])
    experiment: dict[str, Any] = fis.start_experiment(experimentTemplateId=created["experimentTemplate"]["id"])["experiment"]
    assert experiment["state"]["status"] in ("pending", "initiating")
    return str(experiment["id"])


def subnets_target(network: dict[str, Any], az: str = "us-east-1a") -> dict[str, Any]:
    return {"resourceType": "aws:ec2:subnet", "resourceTags": {"fis-test": network["run"]}, "selectionMode": "ALL",
            "filters": [{"path": "AvailabilityZone", "values": [az]}]}


def instance_state(stack: Stack, instance_id: str) -> str:
    reservations = stack.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def test_disrupt_connectivity_swaps_the_subnet_to_a_fis_clone_and_back(stack: Stack, network: dict[str, Any]) -> None:
    subnet = network["subnets"]["us-east-1a"]["SubnetId"]
    other = network["subnets"]["us-east-1b"]["SubnetId"]
    original = acl_of(stack, subnet)["NetworkAclId"]
    experiment_id = start(stack, {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                          "parameters": {"duration": "PT2M", "scope": "all"},
                                          "targets": {"Subnets": "az"}}}, {"az": subnets_target(network)})
    swapped = until(lambda: acl_of(stack, subnet), 10, "the subnet on the FIS clone", 0.01,
                    accept=lambda acl: acl["NetworkAclId"] != original)
    assert {"Key": "managedByFIS", "Value": "true"} in swapped["Tags"]
    rules = {(e["RuleNumber"], e["Egress"]): (e["RuleAction"], e["CidrBlock"]) for e in swapped["Entries"]}
    # Within the subnet allowed; everything else falls to the implicit deny-all of the new NACL.
    assert {k: v for k, v in rules.items() if k[0] < 32767} == {(1, False): ("allow", network["cidr"]),
                                                                (1, True): ("allow", network["cidr"])}
    assert acl_of(stack, other)["NetworkAclId"] == original  # the filter kept the other AZ out
    resolved = stack.client("fis").list_experiment_resolved_targets(experimentId=experiment_id)["resolvedTargets"]
    assert [r["targetInformation"]["arn"].rsplit("/", 1)[-1] for r in resolved] == [subnet]
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "completed" and ended["actions"]["cut"]["state"]["status"] == "completed"
    assert acl_of(stack, subnet)["NetworkAclId"] == original
    assert not stack.client("ec2").describe_network_acls(NetworkAclIds=[])["NetworkAcls"] or all(
        {"Key": "managedByFIS", "Value": "true"} not in (a.get("Tags") or [])
        for a in stack.client("ec2").describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [network["vpc"]]}])["NetworkAcls"])


def test_stop_instances_restarts_them_after_the_duration_and_start_after_orders(stack: Stack,
                                                                                network: dict[str, Any]) -> None:
    target = {"resourceType": "aws:ec2:instance", "resourceTags": {"fis-test": network["run"]}, "selectionMode": "COUNT(1)",
              "filters": [{"path": "Placement.AvailabilityZone", "values": ["us-east-1b"]}]}
    instance = network["instances"]["us-east-1b"]["InstanceId"]
    experiment_id = start(stack, {
        "first": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}},
        "stop": {"actionId": "aws:ec2:stop-instances", "parameters": {"startInstancesAfterDuration": "PT5M"},
                 "targets": {"Instances": "i"}, "startAfter": ["first"]}}, {"i": target})
    experiment = stack.client("fis").get_experiment(id=experiment_id)["experiment"]
    assert experiment["actions"]["stop"]["state"]["status"] == "pending"
    # "running" once the instance is stopped; it stays so for startInstancesAfterDuration (3 s here).
    during = until(lambda: stack.client("fis").get_experiment(id=experiment_id)["experiment"], 10, "stop running", 0.01,
                   accept=lambda e: e["actions"]["stop"]["state"]["status"] == "running")
    assert instance_state(stack, instance) == "stopped"
    assert during["actions"]["first"]["state"]["status"] == "completed"
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "completed"
    assert instance_state(stack, instance) == "running"
    assert ended["actions"]["stop"]["startTime"] >= ended["actions"]["first"]["endTime"]


def test_stop_experiment_stops_running_actions_undoing_them_and_cancels_the_rest(stack: Stack,
                                                                                 network: dict[str, Any]) -> None:
    subnet = network["subnets"]["us-east-1a"]["SubnetId"]
    original = acl_of(stack, subnet)["NetworkAclId"]
    experiment_id = start(stack, {
        "cut": {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": "PT12H"},
                "targets": {"Subnets": "az"}},
        "later": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}, "startAfter": ["cut"]}},
        {"az": subnets_target(network)})
    until(lambda: acl_of(stack, subnet)["NetworkAclId"], 10, "the cut", 0.01, accept=lambda acl: acl != original)
    stack.client("fis").stop_experiment(id=experiment_id)
    ended = stack.finished(experiment_id)
    assert ended["state"] == {"status": "stopped", "reason": "Experiment stopped."}
    assert ended["actions"]["cut"]["state"]["status"] == "stopped"
    assert ended["actions"]["later"]["state"]["status"] == "cancelled"
    assert acl_of(stack, subnet)["NetworkAclId"] == original


def test_a_stop_condition_in_alarm_stops_the_experiment_and_rolls_back(stack: Stack, network: dict[str, Any]) -> None:
    cloudwatch = stack.client("cloudwatch")
    name = f"fis-stop-{network['run']}"
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="Test", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    subnet = network["subnets"]["us-east-1a"]["SubnetId"]
    original = acl_of(stack, subnet)["NetworkAclId"]
    experiment_id = start(stack, {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                          "parameters": {"duration": "PT12H"}, "targets": {"Subnets": "az"}}},
                          {"az": subnets_target(network)}, [{"source": "aws:cloudwatch:alarm", "value": arn}])
    until(lambda: acl_of(stack, subnet)["NetworkAclId"], 10, "the cut", 0.01, accept=lambda acl: acl != original)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "stopped" and arn in ended["state"]["reason"]
    assert acl_of(stack, subnet)["NetworkAclId"] == original


def test_a_target_resolving_to_nothing_fails_with_invalid_target(stack: Stack, network: dict[str, Any]) -> None:
    experiment_id = start(stack, {"stop": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "i"}}},
                          {"i": {"resourceType": "aws:ec2:instance", "resourceTags": {"fis-test": "nobody"},
                                 "selectionMode": "ALL"}})
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "failed"
    assert ended["state"]["error"] == {"code": "InvalidTarget", "location": "targets.i"}
    assert ended["actions"]["stop"]["state"]["status"] == "cancelled"


def test_a_failing_action_fails_the_experiment_and_undoes_the_others(stack: Stack, network: dict[str, Any]) -> None:
    subnet = network["subnets"]["us-east-1a"]["SubnetId"]
    original = acl_of(stack, subnet)["NetworkAclId"]
    experiment_id = start(stack, {
        "cut": {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": "PT12H"},
                "targets": {"Subnets": "az"}},
        "pause": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}},
        "ddb": {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": "PT1M", "scope": "dynamodb"},
                "targets": {"Subnets": "az"}, "startAfter": ["pause"]}},
        {"az": subnets_target(network)})
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "failed", ended["state"]
    assert ended["state"]["error"]["location"] == "actions.ddb" and "not emulated locally" in ended["state"]["reason"]
    assert ended["actions"]["cut"]["state"]["status"] == "stopped"
    assert acl_of(stack, subnet)["NetworkAclId"] == original
    log = [json.loads(line) for line in (stack.log_dir / "experiments" / f"{experiment_id}.jsonl").read_text().splitlines()]
    kinds = [record["log_type"] for record in log]
    assert kinds[0] == "target-resolution-end" and kinds[-1] == "experiment-end"
    assert log[-1]["details"]["experiment_state"]["status"] == "failed"


def test_pause_replication_appends_the_deny_statement_and_removes_only_it(stack: Stack, network: dict[str, Any]) -> None:
    dynamodb = stack.client("dynamodb")
    name = f"catalog-{network['run']}"
    arn = dynamodb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableArn"]
    mine = {"Sid": "ReadersOnly", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "dynamodb:GetItem", "Resource": arn}
    dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps({"Version": "2012-10-17", "Statement": [mine]}))
    experiment_id = start(stack, {"pause": {"actionId": "aws:dynamodb:global-table-pause-replication",
                                            "parameters": {"duration": "PT12H"}, "targets": {"Tables": "t"}}},
                          {"t": {"resourceType": "aws:dynamodb:global-table", "resourceArns": [arn], "selectionMode": "ALL"}})

    def statements() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(dynamodb.get_resource_policy(ResourceArn=arn)["Policy"])["Statement"]
        return found

    paused = until(statements, 10, "the deny statement", 0.01, accept=lambda s: len(s) == 2)
    deny = paused[1]
    assert deny["Sid"] == f"DoNotModifyFisDynamoDbPauseReplication{experiment_id}" and deny["Effect"] == "Deny"
    assert deny["Principal"]["AWS"].endswith("/AWSServiceRoleForDynamoDBReplication") and deny["Resource"] == arn
    stack.client("fis").stop_experiment(id=experiment_id)
    assert stack.finished(experiment_id)["state"]["status"] == "stopped"
    assert statements() == [mine]


def test_with_empty_target_resolution_mode_skip_the_actions_on_an_empty_target_are_skipped(
        stack: Stack, network: dict[str, Any]) -> None:
    fis = stack.client("fis")
    created = fis.create_experiment_template(
        description="t", roleArn=ROLE, stopConditions=[{"source": "none"}],
        experimentOptions={"emptyTargetResolutionMode": "skip"},
        targets={"nobody": {"resourceType": "aws:ec2:instance", "resourceTags": {"fis-test": "nobody"},
                            "selectionMode": "ALL"}},
        actions={"stop": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "nobody"}},
                 "after": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}, "startAfter": ["stop"]}})
    experiment_id = fis.start_experiment(experimentTemplateId=created["experimentTemplate"]["id"])["experiment"]["id"]
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "completed"
    assert ended["actions"]["stop"]["state"]["status"] == "skipped"
    assert ended["actions"]["after"]["state"]["status"] == "completed"


def test_send_command_puts_the_documents_toxic_on_the_instance_and_takes_it_off(stack: Stack,
                                                                                network: dict[str, Any]) -> None:
    instance = network["instances"]["us-east-1a"]
    stack.toxics.calls.clear()
    experiment_id = start(stack, {"slow": {
        "actionId": "aws:ssm:send-command", "targets": {"Instances": "i"},
        "parameters": {"documentArn": "arn:aws:ssm:us-east-1::document/AWSFIS-Run-Network-Latency",
                       "documentParameters": json.dumps({"DelayMilliseconds": "150", "DurationSeconds": "60"}),
                       "duration": "PT5M"}}},
        {"i": {"resourceType": "aws:ec2:instance", "resourceArns": [
            f"arn:aws:ec2:us-east-1:123456789012:instance/{instance['InstanceId']}"], "selectionMode": "ALL"}})
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "completed", ended["state"]
    address = instance["PrivateIpAddress"]
    assert stack.toxics.calls == [(address, [{"kind": "latency", "delay_ms": 150.0}]), (address, [])]


def test_send_command_with_a_document_the_fabric_cannot_run_fails_naming_it(stack: Stack,
                                                                           network: dict[str, Any]) -> None:
    instance = network["instances"]["us-east-1a"]
    experiment_id = start(stack, {"udp": {
        "actionId": "aws:ssm:send-command", "targets": {"Instances": "i"},
        "parameters": {"documentArn": "arn:aws:ssm:us-east-1::document/AWSFIS-Run-Network-Blackhole-Port",
                       "documentParameters": json.dumps({"Port": "53", "Protocol": "udp"}), "duration": "PT5M"}}},
        {"i": {"resourceType": "aws:ec2:instance", "resourceArns": [
            f"arn:aws:ec2:us-east-1:123456789012:instance/{instance['InstanceId']}"], "selectionMode": "ALL"}})
    ended = stack.finished(experiment_id)
    assert ended["state"]["status"] == "failed" and "udp" in ended["state"]["reason"]


def _burners() -> list[int]:
    """This process's children running the CPU-stress worker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == os.getpid() and b"deadline, period" in cmdline:
                found.append(int(entry.name))
    return found


def test_cpu_stress_pins_the_instance_process_beside_busy_workers_and_undoes_it(stack: Stack,
                                                                                network: dict[str, Any]) -> None:
    instance = network["instances"]["us-east-1a"]["InstanceId"]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        stack.processes.pids[instance] = sleeper.pid
        before = os.sched_getaffinity(sleeper.pid)
        experiment_id = start(stack, {"burn": {
            "actionId": "aws:ssm:send-command", "targets": {"Instances": "i"},
            "parameters": {"documentArn": "arn:aws:ssm:us-east-1::document/AWSFIS-Run-CPU-Stress",
                           "documentParameters": json.dumps({"CPU": "1", "LoadPercent": "50", "DurationSeconds": "300"}),
                           "duration": "PT5M"}}},
            {"i": {"resourceType": "aws:ec2:instance", "resourceArns": [
                f"arn:aws:ec2:us-east-1:123456789012:instance/{instance}"], "selectionMode": "ALL"}})
        until(lambda: stack.client("fis").get_experiment(id=experiment_id)["experiment"], 10, "burn running", 0.01,
              accept=lambda e: e["actions"]["burn"]["state"]["status"] == "running")
        [burner] = _burners()
        pinned = os.sched_getaffinity(sleeper.pid)
        assert len(pinned) == 1 and os.sched_getaffinity(burner) == pinned  # the burner shares the instance's CPU

        def cpu_ticks() -> int:
            fields = Path(f"/proc/{burner}/stat").read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime

        first = cpu_ticks()
        until(cpu_ticks, 10, "the burner using CPU", 0.05, accept=lambda ticks: ticks > first)
        ended = stack.finished(experiment_id)
        assert ended["state"]["status"] == "completed"
        assert os.sched_getaffinity(sleeper.pid) == before and _burners() == []
    finally:
        stack.processes.pids.pop(instance, None)
        sleeper.kill()
        sleeper.wait()


def test_the_log_goes_to_the_cloudwatch_logs_group_of_the_log_configuration(stack: Stack, network: dict[str, Any]) -> None:
    logs = stack.client("logs")
    group = f"/fis/{network['run']}"
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"
    fis = stack.client("fis")
    created = fis.create_experiment_template(
        description="t", roleArn=ROLE, stopConditions=[{"source": "none"}],
        logConfiguration={"cloudWatchLogsConfiguration": {"logGroupArn": arn}, "logSchemaVersion": 2},
        actions={"pause": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}})
    experiment_id = fis.start_experiment(experimentTemplateId=created["experimentTemplate"]["id"])["experiment"]["id"]
    assert stack.finished(experiment_id)["state"]["status"] == "completed"

    def kinds() -> list[str]:
        events = logs.get_log_events(logGroupName=group, logStreamName=experiment_id)["events"]
        return [json.loads(e["message"])["log_type"] for e in events]

    # The runner writes experiment-end just after the state turns completed (FIS delivers its log on its own
    # schedule too): a client that has seen the end may read the log a moment before its last event.
    assert until(kinds, 10, "the experiment-end log event", 0.05, accept=lambda found: "experiment-end" in found) == [
        "experiment-start", "action-start", "action-end", "experiment-end"]


def test_cross_region_disruption_denies_the_other_regions_vpcs_first_and_keeps_the_rest(
        stack: Stack, network: dict[str, Any]) -> None:
    subnet = network["subnets"]["us-east-1a"]["SubnetId"]
    original = acl_of(stack, subnet)
    west = sorted({v["CidrBlock"] for v in stack.client("ec2", "us-west-2").describe_vpcs()["Vpcs"]})
    assert west, "the test needs a VPC in us-west-2 (the default VPC)"
    experiment_id = start(stack, {"west": {
        "actionId": "aws:network:route-table-disrupt-cross-region-connectivity",
        "parameters": {"duration": "PT12H", "region": "us-west-2"}, "targets": {"Subnets": "az"}}},
        {"az": subnets_target(network)})
    clone = until(lambda: acl_of(stack, subnet), 10, "the clone", 0.01,
                  accept=lambda acl: acl["NetworkAclId"] != original["NetworkAclId"])
    inbound = sorted((e["RuleNumber"], e["RuleAction"], e["CidrBlock"]) for e in clone["Entries"]
                     if not e["Egress"] and e["RuleNumber"] < 32767)
    denies = [(i + 1, "deny", cidr) for i, cidr in enumerate(west)]
    kept = sorted((e["RuleNumber"] + len(west), e["RuleAction"], e["CidrBlock"]) for e in original["Entries"]
                  if not e["Egress"] and e["RuleNumber"] < 32767)
    assert inbound == denies + kept
    stack.client("fis").stop_experiment(id=experiment_id)
    assert stack.finished(experiment_id)["state"]["status"] == "stopped"
    assert acl_of(stack, subnet)["NetworkAclId"] == original["NetworkAclId"]
