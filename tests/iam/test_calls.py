"""The exact calls behind the policy: what the builder creates, what the probes and the guard read.

The faults' exact calls are asserted in tests/faults (and, plan against reality, in tests/faults/test_plan.py).
"""
from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from environments import loader
from base.operations import is_read_only
from tests.iam.scenario import Recording

STACK_TAG = {"Key": "gameday:stack", "Value": "securecart"}


def _tags(params: dict[str, Any]) -> list[dict[str, str]]:
    if "TagSpecifications" in params:
        return [tag for spec in params["TagSpecifications"] for tag in spec["Tags"]]
    return list(params.get("Tags") or params.get("AddTags") or [])


def test_the_builder_makes_exactly_these_changes(recording: Recording) -> None:
    environment = loader.load("local")
    changes = [call for call in recording.of("build") if not is_read_only(call[1])]
    ops = [op for _, op, _ in changes]
    counts = Counter(ops)
    record_batches = counts.pop("ChangeResourceRecordSets")
    assert counts == Counter({"CreateVpc": 4, "CreateSubnet": 8, "CreateSecret": 1, "CreateDBSubnetGroup": 2,
                              "CreateDBInstance": 1, "CreateDBInstanceReadReplica": 1, "RunInstances": 8,
                              "CreateHostedZone": 1, "CreateHealthCheck": 8,
                              "ChangeTagsForResource": 9})  # 8 health checks and the zone (the writer-name step targets it)
    assert record_batches >= 1
    # The order that matters: what a call refers to exists before it.
    assert ops.index("CreateDBInstance") < ops.index("CreateDBInstanceReadReplica")
    assert ops.index("CreateHostedZone") < ops.index("ChangeResourceRecordSets")
    assert max(i for i, op in enumerate(ops) if op == "CreateHealthCheck") < len(ops) - 1 - ops[::-1].index(
        "ChangeResourceRecordSets"), "the record tree refers to every health check"
    by_op: dict[str, list[dict[str, Any]]] = {}
    for service, op, params in changes:
        by_op.setdefault(op, []).append(params)
        if op not in ("CreateHostedZone", "ChangeResourceRecordSets", "CreateHealthCheck"):
            assert STACK_TAG in _tags(params), f"{service}.{op} does not tag what it creates: {params}"
    assert [p["CidrBlock"] for p in by_op["CreateVpc"]] == [r.vpc_cidr for r in environment.regions.values()]
    assert [(p["AvailabilityZone"], p["CidrBlock"]) for p in by_op["CreateSubnet"]] == [
        (az, zone.subnet_cidr) for region in environment.regions.values() for az, zone in region.availability_zones.items()]
    [database] = by_op["CreateDBInstance"]
    assert {k: database[k] for k in ("DBInstanceIdentifier", "Engine", "MultiAZ", "BackupRetentionPeriod", "DBName")} == {
        "DBInstanceIdentifier": "orders", "Engine": "postgres", "MultiAZ": True, "BackupRetentionPeriod": 7,
        "DBName": "securecart"}
    [replica] = by_op["CreateDBInstanceReadReplica"]
    assert (replica["DBInstanceIdentifier"], replica["SourceRegion"]) == ("orders-replica", "us-east-1")
    assert replica["SourceDBInstanceIdentifier"] == "arn:aws:rds:us-east-1:123456789012:db:orders"
    for params in by_op["CreateHealthCheck"]:
        config = params["HealthCheckConfig"]
        assert (config["Type"], config["ResourcePath"], config["Port"], config["RequestInterval"],
                config["FailureThreshold"]) == ("HTTP", "/health", 8080, environment.stack.health_check_interval_s,
                                                environment.stack.health_check_failure_threshold)
        assert config["Regions"] == environment.health_checker_regions
    changes_of_records = [c for batch in by_op["ChangeResourceRecordSets"] for c in batch["ChangeBatch"]["Changes"]]
    assert {change["Action"] for change in changes_of_records} == {"UPSERT"}
    policies = Counter(next(k for k in ("MultiValueAnswer", "Region", "GeoLocation", "Failover", "Weight")
                            if k in change["ResourceRecordSet"]) for change in changes_of_records
                       if any(k in change["ResourceRecordSet"] for k in ("MultiValueAnswer", "Region", "GeoLocation",
                                                                         "Failover", "Weight")))
    assert policies == Counter({"MultiValueAnswer": 8, "Region": 3, "GeoLocation": 2, "Failover": 2, "Weight": 2})


def test_the_probes_and_the_guard_read_exactly_this(recording: Recording) -> None:
    calls = recording.of("gameday")
    assert ("sts", "GetCallerIdentity", {}) in calls
    assert {(op, str(params)) for _, op, params in calls if op == "DescribeAlarms"} == {
        ("DescribeAlarms", str({"AlarmNames": ["checkout-5xx"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}))}
    assert ("rds", "DescribeEvents", {"SourceIdentifier": "orders", "SourceType": "db-instance",
                                      "StartTime": datetime.datetime(2025, 1, 1)}) in calls
    assert ("rds", "DescribeDBInstances", {"DBInstanceIdentifier": "orders-replica"}) in calls
    [status] = [params for _, op, params in calls if op == "GetHealthCheckStatus"]
    assert list(status) == ["HealthCheckId"]
    assert not [op for _, op, _ in calls if op.startswith("Describe") and op not in (
        "DescribeAlarms", "DescribeDBInstances", "DescribeEvents", "DescribeInstances", "DescribeNetworkAcls",
        "DescribeSubnets", "DescribeVpcs", "DescribeTable", "DescribeVirtualInterfaces")]


def test_the_builder_waits_for_each_record_change_to_be_insync(recording: Recording) -> None:
    """ChangeResourceRecordSets returns PENDING; the builder polls GetChange on that change before going on."""
    calls = [(op, params) for _, op, params in recording.of("build")]
    changes = [i for i, (op, _) in enumerate(calls) if op == "ChangeResourceRecordSets"]
    assert changes
    for index in changes:
        following = calls[index + 1]
        assert following[0] == "GetChange", f"ChangeResourceRecordSets was followed by {following[0]}, not GetChange"
        assert following[1].get("Id"), following


def test_the_orders_are_read_through_both_endpoints_as_the_master_user(recording: Recording) -> None:
    """`scan`, the runbook's restore and the build's converge read the orders with the secret the builder stored."""
    logins = recording.connections
    assert {login.phase for login in logins} == {"gameday", "converge"}
    assert {(login.user, login.password) for login in logins} == {
        (recording.master_secret["username"], recording.master_secret["password"])}
    assert {(login.host.split(".")[0], login.host.split(".")[2], login.database) for login in logins} == {
        ("orders", "us-east-1", "securecart"), ("orders-replica", "ap-southeast-1", "securecart")}


def test_a_promoted_copy_is_deleted_only_after_its_orders_were_read(recording: Recording) -> None:
    """No orders lost: between the promotion and the deletion of the copy, its orders and the writer's were read."""
    ops = [(service, op, params) for phase, service, op, params in recording.calls if phase != "teardown"]
    deletions = [i for i, (_, op, _) in enumerate(ops) if op == "DeleteDBInstance"]
    assert len(deletions) == 3, "the runbook rollback, `gameday recover` and the build's converge each delete once"
    for index in deletions:
        assert ops[index][2] == {"DBInstanceIdentifier": "orders-replica", "SkipFinalSnapshot": True}
        promoted = max(i for i, (_, op, _) in enumerate(ops[:index]) if op == "PromoteReadReplica")
        read = {login.host.split(".")[0] for login in recording.connections if promoted < login.after_calls <= index}
        assert read == {"orders", "orders-replica"}, f"DeleteDBInstance (call {index}) without reading the orders first"
        rebuilt = next(params for _, op, params in ops[index:] if op == "CreateDBInstanceReadReplica")
        assert (rebuilt["DBInstanceIdentifier"], rebuilt["SourceRegion"], rebuilt["SourceDBInstanceIdentifier"]) == (
            "orders-replica", "us-east-1", "arn:aws:rds:us-east-1:123456789012:db:orders")
        assert STACK_TAG in rebuilt["Tags"], "the rebuilt replica carries the stack tag (so rds:AddTagsToResource)"
