"""The RDS part with the real network fabric: isolating the primary's AZ by NACL fails over by itself.

The NACL swap is AWS FIS's method (aws:network:disrupt-connectivity): a deny-all clone associated with the
primary's subnet. Two writers run meanwhile: one from outside the VPC through the endpoint, and
one inside the isolated subnet, which can still reach the old primary (traffic within a subnet
flows). Fencing means neither loses an acknowledged order.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pg8000.native
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from environments import loader
from environments.model import LocalEnvironment, LocalSettings
from base.timescale import TimeScale
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.fabric.part import FabricPart
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.services import DbStatus, Network, ServiceRecords
from stack.local.rds.part import RdsPart
from stack.local.rds.timing import PhaseRange, RdsTiming
from tests.conftest import lifecycle_instance
from tests.stack.local.rds.conftest import wait_for as wait

REGION = "us-east-1"
PASSWORD = "isolate-Pa55word"
TIME_SCALE = 0.02


INSTANCE = lifecycle_instance(honour_named=True)

pytestmark = pytest.mark.slow


class Records:
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}

    def set_service_record(self, fqdn: str, rtype: str, values: list[str], ttl_s: int) -> None:
        self.records[fqdn] = list(values)

    def remove_service_record(self, fqdn: str) -> None:
        self.records.pop(fqdn, None)


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    # The isolation scenario waits through RDS's scaled detection and failover: a longer deadline.
    return wait(condition, what, deadline_s=90.0, poll_s=0.05)


class Writer(threading.Thread):
    """Commits numbered orders; remembers which were acknowledged."""

    def __init__(self, connect: Callable[[], pg8000.native.Connection], first: int) -> None:
        super().__init__(daemon=True)
        self.connect, self.next_order = connect, first
        self.acknowledged: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        connection = None
        while not self.stop.is_set():
            try:
                connection = connection or self.connect()
                connection.run("INSERT INTO orders VALUES (:id)", id=self.next_order)
                self.acknowledged.append(self.next_order)
            except Exception:
                connection = None
                self.stop.wait(0.02)
            self.next_order += 1
            self.stop.wait(0.02)


@pytest.fixture
def fabric_stack(tmp_path: Path) -> Iterator[tuple[Any, RdsPart, Records, Instance, Any]]:
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    host = f"127.0.{INSTANCE}.1"
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    instance = Instance(INSTANCE, base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port)}))
    environment = instance.resolved()
    plane = ControlPlane(logging.getLogger("test.controlplane"))
    endpoint = AwsEndpoint(plane, host, port)
    endpoint.start()
    records = Records()
    services = plane.services
    services.provide(ServiceRecords, records, by="test")
    context = PartContext(instance, environment, tmp_path, logging.getLogger("test.rds"), services)
    fabric = FabricPart()
    part = RdsPart(timing=RdsTiming(scale=TimeScale(TIME_SCALE), seed=3))
    try:
        # No skip: the fabric runs without root or nft (firewall.py's kernel path is optional), so a fabric
        # that does not start is a broken fabric.
        fabric.start(context)
        services.provide(Network, fabric, by="part fabric")
        plane.attach(fabric)
        part.start(context)
        services.provide(DbStatus, part, by="part rds")
        plane.attach(part)
        yield fabric, part, records, instance, environment
    finally:
        plane.detach_all()
        part.stop()
        fabric.stop()
        endpoint.stop()


class Orders:
    """A Multi-AZ instance in the region's VPC, and the FIS-style cut of one of its AZs.

    moto's state lives as long as the process, so each test names its own instance and subnet group.
    """

    def __init__(self, instance: Instance, environment: Any, fabric: Any, identifier: str, retention: int = 0) -> None:
        self.identifier = identifier
        session = boto3.session.Session(**LOCAL_CREDENTIALS)
        config = Config(retries={"max_attempts": 1})
        self.ec2 = session.client("ec2", region_name=REGION, endpoint_url=instance.aws_endpoint, config=config)
        self.rds = session.client("rds", region_name=REGION, endpoint_url=instance.aws_endpoint, config=config)
        self.fabric = fabric
        self.region = environment.regions[REGION]
        # One VPC per process: the fabric maps an address to one subnet, so two with the same CIDR would clash.
        vpcs = self.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [self.region.vpc_cidr]}])["Vpcs"]
        self.vpc = vpcs[0]["VpcId"] if vpcs else self.ec2.create_vpc(CidrBlock=self.region.vpc_cidr)["Vpc"]["VpcId"]
        existing = {s["AvailabilityZone"]: s["SubnetId"] for s in self.ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [self.vpc]}])["Subnets"]}
        self.subnets = {az: existing.get(az) or self.ec2.create_subnet(
                            VpcId=self.vpc, CidrBlock=zone.subnet_cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
                        for az, zone in self.region.availability_zones.items()}
        self.rds.create_db_subnet_group(DBSubnetGroupName=identifier, DBSubnetGroupDescription="orders",
                                        SubnetIds=list(self.subnets.values()))
        fabric.wait_synced()
        self.rds.create_db_instance(DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass="db.t3.micro",
                                    MasterUsername="master", MasterUserPassword=PASSWORD, MultiAZ=True, DBName="shop",
                                    DBSubnetGroupName=identifier, BackupRetentionPeriod=retention, AllocatedStorage=20)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.rds.describe_db_instances(DBInstanceIdentifier=self.identifier)["DBInstances"][0]
        return described

    def isolate(self, az: str) -> Callable[[], None]:
        """FIS's method: a deny-all NACL associated with the AZ's subnet. Returns the restore."""
        deny = self.ec2.create_network_acl(VpcId=self.vpc)["NetworkAcl"]["NetworkAclId"]
        for egress in (False, True):
            self.ec2.create_network_acl_entry(NetworkAclId=deny, RuleNumber=100, Protocol="-1", RuleAction="deny",
                                              Egress=egress, CidrBlock="0.0.0.0/0")
        acls = self.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [self.subnets[az]]}])
        entry = next(a for acl in acls["NetworkAcls"] for a in acl["Associations"] if a["SubnetId"] == self.subnets[az])
        swapped = self.ec2.replace_network_acl_association(AssociationId=entry["NetworkAclAssociationId"],
                                                           NetworkAclId=deny)
        self.fabric.wait_synced()

        def restore() -> None:
            self.ec2.replace_network_acl_association(AssociationId=swapped["NewAssociationId"],
                                                     NetworkAclId=entry["NetworkAclId"])
            self.fabric.wait_synced()

        return restore


def test_isolating_the_primary_az_fails_over_and_loses_no_acknowledged_order(fabric_stack: Any) -> None:
    fabric, part, records, instance, environment = fabric_stack
    orders = Orders(instance, environment, fabric, "orders-isolated")
    region, describe = orders.region, orders.describe
    before = wait_for(lambda: (d := describe())["DBInstanceStatus"] == "available" and d, "orders to be available")
    database = part.database(orders.identifier, REGION)
    assert database is not None and database.primary is not None
    old_primary = database.primary
    old_primary.node.query("CREATE TABLE orders (id int PRIMARY KEY)", dbname="shop")
    fqdn = before["Endpoint"]["Address"]

    def through_endpoint() -> pg8000.native.Connection:
        return pg8000.native.Connection("master", password=PASSWORD, host=records.records[fqdn][0], port=5432,
                                        database="shop", timeout=2, ssl_context=False)

    # A client inside the primary's subnet keeps reaching the old primary while its AZ is cut off.
    inside = str(next(a for a in region.availability_zones[before["AvailabilityZone"]].network.hosts()
                      if a.packed[-1] == 200))

    def from_inside() -> pg8000.native.Connection:
        return pg8000.native.Connection("master", password=PASSWORD, host=old_primary.placement.address, port=5432,
                                        database="shop", timeout=2, ssl_context=False, source_address=(inside, 0))

    outside_writer, inside_writer = Writer(through_endpoint, 1), Writer(from_inside, 1_000_000)
    outside_writer.start()
    inside_writer.start()
    wait_for(lambda: len(outside_writer.acknowledged) > 20 and len(inside_writer.acknowledged) > 20, "orders from both writers")

    restore = orders.isolate(before["AvailabilityZone"])

    after = wait_for(lambda: (d := describe())["AvailabilityZone"] == before["SecondaryAvailabilityZone"] and d,
                     "RDS to fail over by itself")
    wait_for(lambda: describe()["DBInstanceStatus"] == "available", "orders to be available after the failover")
    count = len(outside_writer.acknowledged)
    wait_for(lambda: len(outside_writer.acknowledged) > count + 10, "orders through the endpoint after the failover")
    outside_writer.stop.set()
    inside_writer.stop.set()
    outside_writer.join(10)
    inside_writer.join(10)

    assert database.primary is not old_primary
    assert records.records[fqdn] == [database.primary.placement.address]
    present = {row[0] for row in database.primary.node.query("SELECT id FROM orders", dbname="shop")}
    lost = (set(outside_writer.acknowledged) | set(inside_writer.acknowledged)) - present
    assert not lost, f"acknowledged orders lost: {sorted(lost)[:10]}"
    # Fenced: the old primary now runs only as a standby (it was killed, then rewound).
    assert old_primary.node.is_running() and (old_primary.node.data_dir / "standby.signal").exists()

    # Healing the AZ makes the rebuilt standby synchronous again.
    restore()
    wait_for(lambda: database.synchronous, "the old primary to become the synchronous standby again")
    assert after["SecondaryAvailabilityZone"] == before["AvailabilityZone"]


def test_force_failover_to_a_cut_off_standby_is_refused(fabric_stack: Any) -> None:
    """Failing over to a standby whose AZ is cut off would leave a primary nobody can reach: RDS refuses it."""
    fabric, part, records, instance, environment = fabric_stack
    orders = Orders(instance, environment, fabric, "orders-refused")
    before = wait_for(lambda: (d := orders.describe())["DBInstanceStatus"] == "available" and d, "orders to be available")
    restore = orders.isolate(before["SecondaryAvailabilityZone"])
    try:
        # At once, before RDS's own monitor has noticed the lost standby.
        with pytest.raises(ClientError) as refused:
            orders.rds.reboot_db_instance(DBInstanceIdentifier=orders.identifier, ForceFailover=True)
        assert refused.value.response["Error"]["Code"] == "InvalidDBInstanceState"
        assert before["SecondaryAvailabilityZone"] in refused.value.response["Error"]["Message"]
        assert orders.describe()["DBInstanceStatus"] == "available"
    finally:
        restore()
    database = part.database(orders.identifier, REGION)
    assert database is not None
    wait_for(lambda: database.synchronous and orders.describe()["DBInstanceStatus"] == "available",
             "the standby to be synchronous again")
    orders.rds.reboot_db_instance(DBInstanceIdentifier=orders.identifier, ForceFailover=True)
    after = wait_for(lambda: (d := orders.describe())["DBInstanceStatus"] == "available"
                     and d["AvailabilityZone"] == before["SecondaryAvailabilityZone"] and d, "the failover once healed")
    assert after["SecondaryAvailabilityZone"] == before["AvailabilityZone"]


def write(address: str, order: int) -> bool:
    with contextlib.closing(pg8000.native.Connection("master", password=PASSWORD, host=address, port=5432,
                                                     database="shop", timeout=2, ssl_context=False)) as connection:
        connection.run("INSERT INTO orders VALUES (:id) ON CONFLICT DO NOTHING", id=order)
    return True


def race_orders(fabric_stack: Any, identifier: str) -> tuple[Orders, Any, dict[str, Any]]:
    """A Multi-AZ instance with one order and a read replica in the primary's AZ."""
    fabric, part, records, instance, environment = fabric_stack
    orders = Orders(instance, environment, fabric, identifier, retention=1)
    before = wait_for(lambda: (d := orders.describe())["DBInstanceStatus"] == "available" and d, "orders to be available")
    database = part.database(orders.identifier, REGION)
    assert database is not None and database.primary is not None and database.standby is not None
    database.primary.node.query("CREATE TABLE orders (id int PRIMARY KEY)", dbname="shop")
    database.primary.node.query("INSERT INTO orders VALUES (1)", dbname="shop")
    replica = f"{identifier}-replica"
    orders.rds.create_db_instance_read_replica(DBInstanceIdentifier=replica, SourceDBInstanceIdentifier=identifier,
                                               AvailabilityZone=before["AvailabilityZone"])
    wait_for(lambda: orders.rds.describe_db_instances(DBInstanceIdentifier=replica)["DBInstances"][0]
             ["DBInstanceStatus"] == "available", "the read replica to be available")
    return orders, database, before


def test_standby_cut_off_after_force_failover_was_accepted_is_not_promoted(fabric_stack: Any) -> None:
    """The race the chaos schedules found: the standby's AZ is cut off just after RebootDBInstance(ForceFailover)
    passed its check, before RDS's monitor noticed. RDS never promotes a standby it cannot reach: the failover
    is abandoned before the promotion, the old primary serves again, and the instance ends 'available'
    (before the fix: the cut-off standby was promoted, the endpoint moved to it, and the instance ended 'failed'
    once the read replica could not follow it)."""
    records = fabric_stack[2]
    orders, database, before = race_orders(fabric_stack, "orders-race")
    old_primary, standby = database.primary, database.standby
    fqdn = before["Endpoint"]["Address"]
    # RDS's shutdown phase (100 AWS s here): room for the isolation to land after the check, before the promotion.
    database.timing = RdsTiming(scale=TimeScale(TIME_SCALE), seed=4, failover_shutdown_s=PhaseRange(100, 100))

    orders.rds.reboot_db_instance(DBInstanceIdentifier=orders.identifier, ForceFailover=True)
    restore = orders.isolate(before["SecondaryAvailabilityZone"])
    try:
        assert orders.describe()["DBInstanceStatus"] == "rebooting", \
            "the failover finished before the isolation landed: the race was not reproduced"
        after = wait_for(lambda: (d := orders.describe())["DBInstanceStatus"] != "rebooting" and d,
                         "the failover to end")
        assert after["DBInstanceStatus"] == "available"
        assert after["AvailabilityZone"] == before["AvailabilityZone"], "the cut-off standby was promoted"
        assert database.primary is old_primary and database.standby is standby
        assert records.records[fqdn] == [old_primary.placement.address]
        assert not (old_primary.node.data_dir / "standby.signal").exists()
        messages = [e["Message"] for e in orders.rds.describe_events(
            SourceIdentifier=orders.identifier, SourceType="db-instance", Duration=60)["Events"]]
        assert "The instance has recovered from a partial failover" in messages
        # Once RDS's monitor gives up on the cut-off standby, the primary takes writes through the endpoint.
        wait_for(lambda: write(records.records[fqdn][0], 2), "a write through the endpoint")
        assert {row[0] for row in old_primary.node.query("SELECT id FROM orders", dbname="shop")} == {1, 2}
    finally:
        restore()
    wait_for(lambda: database.synchronous and orders.describe()["DBInstanceStatus"] == "available",
             "the standby to be synchronous again once its AZ is back")


def test_new_primary_cut_off_right_after_its_promotion_does_not_fail_the_instance(fabric_stack: Any) -> None:
    """The AZ of the standby is cut off after its promotion began: the failover goes through (as on RDS, a
    promotion is not undone), the old primary cannot be rebuilt from it yet, and the read replica cannot
    follow it yet. None of that is a failure of the instance: it ends 'available', and once the AZ is back
    the standby is rebuilt and the replica streams again (before the fix: 'failed', from the replica)."""
    records = fabric_stack[2]
    orders, database, before = race_orders(fabric_stack, "orders-late")
    replica = fabric_stack[1].database("orders-late-replica", REGION)
    assert replica is not None and replica.primary is not None
    fqdn = before["Endpoint"]["Address"]
    # RDS's promotion phase (100 AWS s here): room for the isolation to land once the promotion has begun.
    database.timing = RdsTiming(scale=TimeScale(TIME_SCALE), seed=5, failover_promote_s=PhaseRange(100, 100))

    orders.rds.reboot_db_instance(DBInstanceIdentifier=orders.identifier, ForceFailover=True)
    standby = database.standby
    assert standby is not None
    wait_for(lambda: not (standby.node.data_dir / "standby.signal").exists(), "the standby's promotion")
    restore = orders.isolate(before["SecondaryAvailabilityZone"])
    try:
        assert orders.describe()["DBInstanceStatus"] == "rebooting", \
            "the failover finished before the isolation landed: the race was not reproduced"
        after = wait_for(lambda: (d := orders.describe())["DBInstanceStatus"] != "rebooting" and d,
                         "the failover to end")
        assert after["AvailabilityZone"] == before["SecondaryAvailabilityZone"]
        # The replicas are repointed after 'available' shows: wait for that step too, by the failover's own
        # thread ending. Not by the instance's lock coming free: the monitor's retries of the standby rebuild
        # take that lock too, each for its 30 s connect timeout while the AZ is cut, and a poll can miss
        # every gap between them (a CI run waited 90 s in vain).
        failover = f"rds failover {database.identifier}"
        wait_for(lambda: not any(thread.name == failover for thread in threading.enumerate()),
                 "the failover's last step to finish")
        assert orders.describe()["DBInstanceStatus"] == "available"
    finally:
        restore()
    wait_for(lambda: database.synchronous and orders.describe()["DBInstanceStatus"] == "available",
             "the old primary to be rebuilt as the synchronous standby once its AZ is back")
    assert records.records[fqdn] == [database.primary.placement.address]
    wait_for(lambda: write(records.records[fqdn][0], 2), "a write through the endpoint")
    wait_for(lambda: replica.primary.node.query("SELECT count(*) FROM orders", dbname="shop") == [[2]],
             "the read replica to stream from the new primary")
