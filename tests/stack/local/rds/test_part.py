"""The RDS part through the AWS API (boto3 -> the control plane -> the part -> real PostgreSQL).

The fabric and Route 53 parts are replaced by small recording fakes; nodes replicate through
their Unix sockets (``via_fabric=False``). PostgreSQL is real.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from base.deadline import holds_within
from base.deadline import until
from environments import loader
from environments.model import LocalSettings
from base.timescale import TimeScale
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.rds import registry, runner
from stack.local.rds.monitor import Monitor
from stack.local.rds.part import RdsPart
from stack.local.rds.timing import RdsTiming
from stack.local.services import DbStatus, Network, ServiceRecords

REGION = "us-east-1"
PASSWORD = "orders-Pa55word"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


class FakeFabric:
    def __init__(self) -> None:
        self.exposed: dict[tuple[str, int], str] = {}
        self.processes: dict[str, int] = {}

    def expose(self, address: str, port: int, backend: str) -> int:
        self.exposed[(address, port)] = backend
        return port

    def unexpose(self, address: str, port: int) -> None:
        self.exposed.pop((address, port), None)

    def register_process(self, address: str, pid: int) -> None:
        self.processes[address] = pid


class FakeRoute53:
    def __init__(self) -> None:
        self.records: dict[str, tuple[str, list[str], float]] = {}

    def set_service_record(self, fqdn: str, rtype: str, values: list[str], ttl_s: float) -> None:
        self.records[fqdn] = (rtype, list(values), ttl_s)

    def remove_service_record(self, fqdn: str) -> None:
        self.records.pop(fqdn, None)


class Stack:
    def __init__(self, part: RdsPart, fabric: FakeFabric, route53: FakeRoute53, endpoint_url: str, state_dir: Path) -> None:
        self.part, self.fabric, self.route53, self.state_dir = part, fabric, route53, state_dir
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}
        self._session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(self, service: str = "rds", region: str = REGION) -> Any:
        # One client per service and Region: building one loads botocore's model (slow, and it holds the GIL).
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, region_name=region, endpoint_url=self.endpoint_url,
                                                      config=Config(retries={"max_attempts": 1}))
        return self._clients[key]


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = 90.0) -> Any:
    return until(condition, deadline_s, what, interval_s=0.05, ignore=(Exception,))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    plane = ControlPlane(logging.getLogger("test.controlplane"))
    port = free_port()
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    environment = loader.load("local").model_copy(update={"local": LocalSettings(aws_endpoint_port=port)})
    state_dir = tmp_path_factory.mktemp(f"rds-state-{WORKER}")
    fabric, route53 = FakeFabric(), FakeRoute53()
    plane.services.provide(Network, fabric, by="test")
    plane.services.provide(ServiceRecords, route53, by="test")
    context = PartContext(Instance(0, environment), environment, state_dir, logging.getLogger("test.rds"),
                          plane.services, part="rds")
    # A small time_scale keeps RDS's 60-120 s failover at about a second.
    part = RdsPart(timing=RdsTiming(scale=TimeScale(0.01), seed=7), via_fabric=False)
    part.start(context)
    plane.services.provide(DbStatus, part, by="part rds")
    plane.attach(part)
    try:
        yield Stack(part, fabric, route53, f"http://127.0.0.1:{port}", state_dir)
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()


@pytest.fixture(scope="module")
def subnet_group(stack: Stack) -> str:
    ec2 = stack.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.16.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for n, az in ((1, "a"), (2, "b"))]
    name = f"orders-{WORKER}"
    stack.client().create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="orders",
                                          SubnetIds=subnets)
    return name


def create(stack: Stack, identifier: str, subnet_group: str, multi_az: bool, retention: int = 1) -> dict[str, Any]:
    response = stack.client().create_db_instance(
        DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="master", MasterUserPassword=PASSWORD, MultiAZ=multi_az, DBSubnetGroupName=subnet_group,
        BackupRetentionPeriod=retention, DBName="shop")
    return response["DBInstance"]


Instances = Callable[[str, bool, int], dict[str, Any]]


@pytest.fixture(scope="module")
def instances(stack: Stack, subnet_group: str) -> Instances:
    """Create an instance on first use (under xdist each worker creates only what its tests need)."""
    created: dict[str, dict[str, Any]] = {}

    def get(identifier: str, multi_az: bool, retention: int) -> dict[str, Any]:
        if identifier not in created:
            created[identifier] = create(stack, identifier, subnet_group, multi_az, retention)
        return created[identifier]

    return get


def describe(stack: Stack, identifier: str, region: str = REGION) -> dict[str, Any]:
    return stack.client(region=region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def wait_status(stack: Stack, identifier: str, status: str, region: str = REGION) -> dict[str, Any]:
    return wait_for(lambda: (d := describe(stack, identifier, region))["DBInstanceStatus"] == status and d,
                    f"{identifier} to be {status!r}")


def primary_node(stack: Stack, identifier: str, region: str = REGION) -> Any:
    database = stack.part.database(identifier, region)
    assert database is not None and database.primary is not None
    return database.primary.node


def test_multi_az_instance_lifecycle(stack: Stack, instances: Instances) -> None:
    """One Multi-AZ instance through its life: create, ForceFailover, its primary dying, delete."""
    assert instances("orders-multi", True, 1)["DBInstanceStatus"] == "creating"
    before = wait_status(stack, "orders-multi", "available")
    database = stack.part.database("orders-multi", REGION)
    assert database is not None and database.primary is not None and database.standby is not None
    primary, standby = database.primary, database.standby
    assert before["MultiAZ"] is True
    assert before["AvailabilityZone"] == primary.placement.az
    assert {before["AvailabilityZone"], before["SecondaryAvailabilityZone"]} == {f"{REGION}a", f"{REGION}b"}
    assert primary.placement.address.startswith("127.16.1." if primary.placement.az.endswith("a") else "127.16.2.")
    assert stack.route53.records[before["Endpoint"]["Address"]][1] == [primary.placement.address]
    assert stack.fabric.exposed[(primary.placement.address, 5432)] == f"unix:{primary.node.socket_path}"
    assert stack.fabric.processes[primary.placement.address] == primary.node.pid
    assert primary.node.query("SELECT current_database()", dbname="shop") == [["shop"]]
    assert primary.node.query("SELECT application_name, sync_state FROM pg_stat_replication "
                              "WHERE application_name <> 'gameday-backup'") == [[standby.node.name, "sync"]]
    primary.node.query("CREATE TABLE orders (id int PRIMARY KEY)")
    primary.node.query("INSERT INTO orders SELECT generate_series(1, 100)")
    started = datetime.now(timezone.utc)

    # RebootDBInstance(ForceFailover): RDS's order, events, AZ swap; a second reboot meanwhile is refused.
    rebooted = stack.client().reboot_db_instance(DBInstanceIdentifier="orders-multi", ForceFailover=True)
    assert rebooted["DBInstance"]["DBInstanceStatus"] == "rebooting"
    with pytest.raises(ClientError) as second:
        stack.client().reboot_db_instance(DBInstanceIdentifier="orders-multi", ForceFailover=True)
    assert second.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    after = wait_status(stack, "orders-multi", "available")
    assert (after["AvailabilityZone"], after["SecondaryAvailabilityZone"]) == (
        before["SecondaryAvailabilityZone"], before["AvailabilityZone"])
    events = stack.client().describe_events(SourceIdentifier="orders-multi", SourceType="db-instance",
                                            StartTime=started)["Events"]
    assert [e["Message"] for e in events][:3] == [
        "Multi-AZ instance failover started",
        "Multi-AZ failover to standby complete – DNS propagation may take a few minutes",
        "Multi-AZ instance failover completed"]
    assert [e["Date"] for e in events] == sorted(e["Date"] for e in events)
    assert database.primary is standby and database.standby is primary
    assert stack.route53.records[after["Endpoint"]["Address"]][1] == [standby.placement.address]
    assert standby.node.query("SELECT count(*) FROM orders") == [[100]]
    standby.node.query("INSERT INTO orders VALUES (101)")
    assert standby.node.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = :n",
                              n=primary.node.name) == [["sync"]]

    # The primary's process dies: RDS fails over by itself.
    assert standby.node.pid is not None
    os.kill(standby.node.pid, 9)
    wait_for(lambda: describe(stack, "orders-multi")["AvailabilityZone"] == before["AvailabilityZone"],
             "the AZs to swap back after the primary died", 90)
    wait_status(stack, "orders-multi", "available")
    assert database.primary is primary
    assert primary.node.query("SELECT count(*) FROM orders") == [[101]]
    messages = [e["Message"] for e in stack.client().describe_events(
        SourceIdentifier="orders-multi", SourceType="db-instance")["Events"]]
    assert messages.count("Multi-AZ instance failover completed") == 2

    # DeleteDBInstance: the servers stop and their data goes.
    data_dirs = [m.node.data_dir for m in database.members()]
    stack.client().delete_db_instance(DBInstanceIdentifier="orders-multi", SkipFinalSnapshot=True)
    wait_for(lambda: all(not d.exists() for d in data_dirs), "the data directories to be removed")
    assert all(runner.cluster_pids(d) == [] for d in data_dirs)
    assert after["Endpoint"]["Address"] not in stack.route53.records  # removed before the data
    with pytest.raises(ClientError) as gone:
        describe(stack, "orders-multi")
    assert gone.value.response["Error"]["Code"] == "DBInstanceNotFound"


def test_a_failover_whose_standby_rebuild_fails_serves_alone_then_rebuilds(
        stack: Stack, instances: Instances, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old primary cannot be rewound at first (its new primary out of its reach, say): the instance is
    'available' on the new primary, the old one never starts as a second primary, and RDS rebuilds it later."""
    instances("orders-rebuild", True, 0)
    wait_status(stack, "orders-rebuild", "available")
    database = stack.part.database("orders-rebuild", REGION)
    assert database is not None and database.primary is not None and database.standby is not None
    old_primary, standby = database.primary, database.standby
    attempts: list[bool] = []
    rewind = old_primary.node.rewind_from

    def unreachable_the_first_time(source: Any, timeout_s: float = 120.0) -> None:
        attempts.append(True)
        if len(attempts) == 1:
            raise TimeoutError("the new primary did not answer")
        rewind(source, timeout_s)

    monkeypatch.setattr(old_primary.node, "rewind_from", unreachable_the_first_time)
    stack.client().reboot_db_instance(DBInstanceIdentifier="orders-rebuild", ForceFailover=True)
    wait_for(lambda: attempts and describe(stack, "orders-rebuild")["DBInstanceStatus"] == "available",
             "the failover to end with the new primary serving")
    assert database.primary is standby
    standby.node.query("CREATE TABLE t (id int)", dbname="shop")
    wait_for(lambda: len(attempts) >= 2 and database.synchronous and not database.standby_needs_rebuild,
             "RDS's monitor to rebuild the old primary as the synchronous standby")
    assert (old_primary.node.data_dir / "standby.signal").exists()
    assert standby.node.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = :n",
                              n=old_primary.node.name) == [["sync"]]
    assert describe(stack, "orders-rebuild")["DBInstanceStatus"] == "available"


def test_bad_reboots_get_aws_errors(stack: Stack, instances: Instances) -> None:
    instances("orders-single", False, 0)
    wait_status(stack, "orders-single", "available")
    with pytest.raises(ClientError) as single_az:
        stack.client().reboot_db_instance(DBInstanceIdentifier="orders-single", ForceFailover=True)
    assert single_az.value.response["Error"]["Code"] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as unknown:
        stack.client().reboot_db_instance(DBInstanceIdentifier="no-such-db", ForceFailover=True)
    assert unknown.value.response["Error"]["Code"] == "DBInstanceNotFound"

    # A reboot in place keeps the data and the AZ.
    node = primary_node(stack, "orders-single")
    node.query("CREATE TABLE t (id int)")
    first_pid = node.pid
    stack.client().reboot_db_instance(DBInstanceIdentifier="orders-single")
    shown = wait_status(stack, "orders-single", "available")
    assert shown["AvailabilityZone"] == f"{REGION}a"
    assert node.pid != first_pid
    assert node.query("SELECT count(*) FROM t") == [[0]]


@pytest.mark.parametrize("db_name", ["shop-db", "1shop", "x" * 64, 'shop"; DROP DATABASE postgres; --'])
def test_a_db_name_rds_refuses_is_refused_before_anything_is_made(stack: Stack, subnet_group: str, db_name: str) -> None:
    with pytest.raises(ClientError) as refused:
        stack.client().create_db_instance(
            DBInstanceIdentifier="orders-badname", Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="master", MasterUserPassword=PASSWORD, DBSubnetGroupName=subnet_group,
            DBName=db_name)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    message = refused.value.response["Error"]["Message"]
    assert message.startswith("DBName must begin with a letter") and repr(db_name) in message
    assert stack.part.database("orders-badname", REGION) is None
    with pytest.raises(ClientError) as missing:
        describe(stack, "orders-badname")
    assert missing.value.response["Error"]["Code"] == "DBInstanceNotFound"


def test_point_in_time_restore_is_exact_and_checks_the_time(stack: Stack, instances: Instances) -> None:
    instances("orders-pitr", False, 1)
    wait_status(stack, "orders-pitr", "available")
    node = primary_node(stack, "orders-pitr")
    node.query("CREATE TABLE orders (id int)")
    node.query("INSERT INTO orders VALUES (1)")
    between = node.now()
    node.query("INSERT INTO orders VALUES (2)")
    latest = wait_for(lambda: (t := describe(stack, "orders-pitr").get("LatestRestorableTime")) and t > between and t,
                      "LatestRestorableTime to pass the restore point")

    with pytest.raises(ClientError) as too_late:
        stack.client().restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="orders-pitr", TargetDBInstanceIdentifier="orders-late",
            RestoreTime=latest + timedelta(minutes=10))
    assert too_late.value.response["Error"]["Code"] == "InvalidRestoreFault"

    restored = stack.client().restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="orders-pitr", TargetDBInstanceIdentifier="orders-restored", RestoreTime=between)
    assert restored["DBInstance"]["DBInstanceStatus"] == "creating"
    wait_status(stack, "orders-restored", "available")
    assert primary_node(stack, "orders-restored").query("SELECT id FROM orders") == [[1]]
    messages = [e["Message"] for e in stack.client().describe_events(
        SourceIdentifier="orders-restored", SourceType="db-instance")["Events"]]
    assert "Restored from DB instance orders-pitr to orders-restored" in messages


def test_read_replica_streams_reports_lag_and_promotes(stack: Stack, instances: Instances) -> None:
    instances("orders-source", False, 1)
    source = wait_status(stack, "orders-source", "available")
    primary_node(stack, "orders-source").query("CREATE TABLE t (id int)")
    # Cross-Region: the replica lives in ap-southeast-1's subnets (from the environment).
    stack.client(region="ap-southeast-1").create_db_instance_read_replica(
        DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier=source["DBInstanceArn"])
    replica = wait_status(stack, "orders-replica", "available", "ap-southeast-1")
    assert replica["AvailabilityZone"].startswith("ap-southeast-1")
    assert replica["StatusInfos"][0]["StatusType"] == "read replication"

    primary_node(stack, "orders-source").query("INSERT INTO t VALUES (1)")
    replica_node = primary_node(stack, "orders-replica", "ap-southeast-1")
    wait_for(lambda: replica_node.query("SELECT count(*) FROM t") == [[1]], "the row on the replica")
    cloudwatch = stack.client("cloudwatch", "ap-southeast-1")
    wait_for(lambda: cloudwatch.get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ReplicaLag", Statistics=["Maximum"], Period=60,
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": "orders-replica"}],
        StartTime=datetime.now(timezone.utc) - timedelta(minutes=5),
        EndTime=datetime.now(timezone.utc) + timedelta(minutes=5))["Datapoints"], "a ReplicaLag datapoint")

    stack.client(region="ap-southeast-1").promote_read_replica(DBInstanceIdentifier="orders-replica")
    promoted = wait_status(stack, "orders-replica", "available", "ap-southeast-1")
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
    replica_node.query("INSERT INTO t VALUES (2)")  # writable now
    assert replica_node.query("SELECT count(*) FROM t") == [[2]]


def test_cleanup_finds_what_a_crashed_part_left(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    crashed = registry.Registry(state_dir)
    root = crashed.create_storage()
    from stack.local.rds.nodeconfig import Credentials
    from stack.local.rds.postgres import Node

    node = Node("left", root / "n1", Credentials("master", PASSWORD))
    node.init()
    pid = node.start()
    crashed.record_node(node.data_dir, pid)
    # The supervisor died here: nothing called stop(). The next start cleans up.
    notes = registry.cleanup_leftovers(state_dir)
    assert runner.cluster_pids(node.data_dir) == []
    assert not root.exists()
    assert any(str(root) in note for note in notes)
    assert registry.cleanup_leftovers(state_dir) == []


def test_an_operation_whose_real_effect_fails_makes_the_part_degraded_naming_the_instance() -> None:
    # Before, the instance went `failed` with the reason in a log line only.
    part = RdsPart()
    database = _FailingDatabase()
    part.fleet.add(database)  # type: ignore[arg-type]
    assert part.health().healthy

    def work() -> None:
        raise RuntimeError("pg_basebackup: could not connect to the primary")

    part.fleet.run(f"create {database.identifier}", work, database)  # type: ignore[arg-type]
    part.fleet.join(10)
    health = part.health()
    assert database.status == "failed" and health.state == "degraded"
    assert health.reasons == (f"{REGION}/orders: RDS create orders failed: RuntimeError: "
                              "pg_basebackup: could not connect to the primary",)
    part.fleet.pop(REGION, database.identifier)  # deleted: nothing left to report
    assert part.health().healthy


def test_a_health_check_that_keeps_raising_makes_the_part_degraded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, each tick logged the exception and the instance's failures went unnoticed, quietly.
    part = RdsPart()
    database = _FailingDatabase(status="available")
    part.fleet.add(database)  # type: ignore[arg-type]

    def check(self: Monitor, checked: Any) -> None:
        raise RuntimeError("psycopg.OperationalError: connection refused")

    monkeypatch.setattr(Monitor, "check", check)
    part._monitor = Monitor(lambda: [database], part.fleet.run, RdsTiming(), None, None,  # type: ignore[arg-type]
                            part.fleet.lock, logging.getLogger("test.rds"))
    part._monitor.start()
    try:
        holds_within(lambda: not part.health().healthy, 10, 0.02)
    finally:
        part._monitor.stop()
    assert part.health().reasons == (f"{REGION}/orders: its health check fails, so a failure of its primary goes "
                                     "unnoticed: RuntimeError: psycopg.OperationalError: connection refused",)


class _FailingDatabase:
    """What the fleet's run(), the monitor's loop and health() read of a Database."""

    def __init__(self, status: str = "creating") -> None:
        self.identifier, self.region, self.status = "orders", REGION, status
        self.stopping = threading.Event()
        self.backups, self.source = None, None

    def set_status(self, status: str) -> None:
        self.status = status
