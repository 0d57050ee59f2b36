"""RDS on real PostgreSQL: failover time, acknowledged writes lost over repeated failovers, memory.

Runs the control plane, the real network fabric (when it starts) and the RDS part on stack
instance $GAMEDAY_INSTANCE (default 7: its own address ranges and a free endpoint port), with a
recording stand-in for Route 53. A writer, in a process of its own as any client is, commits sequenced
orders at --rate orders/s (default 50) to whatever address the endpoint names, reconnecting after every
failure (the stand-in tells it when the record moves, as re-resolving before each connect would), while
RebootDBInstance(ForceFailover) is called --failovers times (default 20). Prints one JSON object.

    GAMEDAY_INSTANCE=7 .venv/bin/python benchmarks/bench_rds.py [--failovers 20] [--rate 50]

Bounded: the failover loop stops at --budget seconds (default 300) even if the count is not reached,
and the JSON says so (rpo.met is then false).

Figures:
- failover_s: from the RebootDBInstance call to the first order committed afterwards (wall, and
  AWS-equivalent = wall / time_scale), against the phases RDS was given (sampled, scaled) + 0.1 s;
- lost_acknowledged_orders: acknowledged orders missing from the final primary (goal 0), over
  --failovers completed failovers (the AZs swapped; one RDS abandoned is reported, not counted), each
  started under the steady load whose rate is reported (achieved_writes_per_s_between_failovers);
- memory: proportional set size (PSS) of every PostgreSQL process of a Multi-AZ pair + a read replica.
"""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchinstance import bench_instance
import boto3
import pg8000.native
from botocore.config import Config

from environments import loader
from environments.model import LocalSettings
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.rds import runner
from stack.local.rds.part import RdsPart
from stack.local.rds.timing import RdsTiming
from base.timescale import TimeScale
from stack.local.services import DbStatus, Network, ServiceRecords

TIMING_SCALE = TimeScale(0.05)  # the failover-time figure: RDS's phases at this scale absorb our real work as at 0.1
RPO_SCALE = TimeScale(0.01)  # the RPO loop: as many failovers as fit the budget
TIMING_FAILOVERS = 2
DEFAULT_INSTANCE = 7
REGION = "us-east-1"
PASSWORD = "bench-Pa55word"
WRITES_PER_S = 50
FAILOVERS = 20
BUDGET_S = 300.0  # the failover loop stops early rather than run past this
CATCH_UP_S = 1.0  # after each failover the writer first catches up (it sends up to 1 s of backlog at once) ...
HOLD_S = 1.0  # ... then runs at the steady rate this long, measured, before the next failover
OVERHEAD_GOAL_S = 0.1


class Route53Stand_in:
    """Records the endpoint's A record as the RDS part sets it (the real part serves it over DNS)."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.set_times: list[float] = []
        self.lock = threading.Lock()
        self.on_set: Callable[[str, str], None] | None = None  # (fqdn, first value): tells the writer

    def set_service_record(self, fqdn: str, rtype: str, values: list[str], ttl_s: int) -> None:
        with self.lock:
            self.records[fqdn.rstrip(".")] = list(values)
            self.set_times.append(time.monotonic())
            if self.on_set is not None and values:
                self.on_set(fqdn.rstrip("."), values[0])

    def remove_service_record(self, fqdn: str) -> None:
        with self.lock:
            self.records.pop(fqdn.rstrip("."), None)

    def resolve(self, fqdn: str) -> str | None:
        with self.lock:
            values = self.records.get(fqdn.rstrip("."))
            return values[0] if values else None


Target = tuple[str, str]  # ("tcp", address) through the fabric, or ("unix", socket path) without it


def write_orders(targets: Connection, events: Connection, stop: Any, writes_per_s: float,
                 source_address: str | None) -> None:
    """The writer process: commits orders 1, 2, 3... at a steady rate to the node ``targets`` last named,
    reconnecting after every failure; sends ("ack", order, time) and ("fail", time, what) back on ``events``.

    A client as the stack's own are (the checkout instances): a process of its own, connecting from its
    address in the VPC. Run as a thread of the benchmark, it shared one GIL with the control plane and the RDS
    part (a refused connect took 8-23 ms instead of 0.1 ms); connecting from 127.0.0.1, it made the fabric ask
    /proc which process held each new connection, which no client in a subnet costs (a connect at steady state
    took 12-17 ms instead of 5 ms).
    """
    target: Target = targets.recv()
    connection = None
    order = 0
    next_at = time.monotonic()
    while not stop.is_set():
        while targets.poll():
            target = targets.recv()
        if connection is None:
            kind, where = target
            try:
                connection = (pg8000.native.Connection("master", password=PASSWORD, host=where, port=5432,
                                                       database="shop", timeout=2, ssl_context=False,
                                                       source_address=(source_address, 0) if source_address else None)
                              if kind == "tcp" else
                              pg8000.native.Connection("master", password=PASSWORD, unix_sock=where, database="shop",
                                                       timeout=2, ssl_context=False))
            except Exception as error:
                events.send(("fail", time.monotonic(), f"connect {type(error).__name__} {str(error)[:60]}"))
                time.sleep(0.005)
                continue
        order_to_write = order + 1
        try:
            connection.run("INSERT INTO orders (id) VALUES (:id)", id=order_to_write)
        except Exception as error:
            events.send(("fail", time.monotonic(), f"insert {type(error).__name__} {str(error)[:60]}"))
            with contextlib.suppress(Exception):
                connection.close()
            connection = None
            # An unacknowledged order may or may not have committed; it is retried under a new number.
            order = order_to_write
            continue
        order = order_to_write
        events.send(("ack", order, time.monotonic()))
        next_at = max(next_at + 1 / writes_per_s, time.monotonic() - 1)
        stop.wait(max(0.0, next_at - time.monotonic()))
    if connection is not None:
        connection.close()
    events.send(("done",))


class Writer:
    """The writer process (``write_orders``) and what it reported: acknowledgements and failures, each with
    its time.monotonic() (one clock for every process on Linux)."""

    def __init__(self, target: Target, writes_per_s: float, source_address: str | None) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process with the stack's threads in it
        self._targets, child_targets = context.Pipe()
        self._events, child_events = context.Pipe(duplex=False)
        self.stop_event = context.Event()
        self.acknowledged: list[tuple[int, float]] = []  # (order, monotonic time of the ack)
        self.failure_times: list[float] = []
        self.errors: list[tuple[float, str]] = []
        self._targets.send(target)
        self.process = context.Process(target=write_orders, name="orders-writer", daemon=True,
                                       args=(child_targets, child_events, self.stop_event, writes_per_s, source_address))
        self._reader = threading.Thread(target=self._read, name="orders-writer-events", daemon=True)

    def start(self) -> None:
        self.process.start()
        self._reader.start()

    def aim(self, target: Target) -> None:
        """Name the node the endpoint now points at (what the writer's next connect would resolve)."""
        self._targets.send(target)

    def _read(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while (event := self._events.recv())[0] != "done":
                if event[0] == "ack":
                    self.acknowledged.append((event[1], event[2]))
                else:
                    self.failure_times.append(event[1])
                    self.errors.append((event[1], event[2]))

    def join(self, timeout_s: float) -> None:
        self.process.join(timeout_s)
        self._reader.join(timeout_s)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def wait_status(client: Any, identifier: str, status: str, deadline_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        shown = client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        if shown["DBInstanceStatus"] == status:
            return shown
        time.sleep(0.02)
    raise TimeoutError(f"{identifier} was not {status!r} within {deadline_s} s")


def main(number: int, failovers: int, writes_per_s: float, budget_s: float) -> dict[str, Any]:
    started = time.monotonic()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    base = loader.load("local")
    host = f"127.0.{number}.1"
    port = free_port(host)
    instance = Instance(number, base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port)}))
    environment = instance.resolved()
    plane = ControlPlane(logging.getLogger("bench.controlplane"))
    endpoint = AwsEndpoint(plane, host, port)
    endpoint.start()
    state_dir = Path(tempfile.mkdtemp(prefix="bench-rds-"))
    route53 = Route53Stand_in()
    services = plane.services
    services.provide(ServiceRecords, route53, by="bench")
    context = PartContext(instance, environment, state_dir, logging.getLogger("bench.rds"), services)
    fabric = None
    fabric_error = None
    try:
        from stack.local.fabric.part import FabricPart

        fabric = FabricPart()
        fabric.start(context)
        services.provide(Network, fabric, by="part fabric")
        plane.attach(fabric)
    except Exception as error:  # measured without the fabric, and said so
        fabric, fabric_error = None, f"{type(error).__name__}: {error}"
    part = RdsPart(timing=RdsTiming(scale=RPO_SCALE, seed=11), via_fabric=fabric is not None)
    if fabric is None:
        services.provide(Network, _NoFabric(), by="bench")
    part.start(context)
    services.provide(DbStatus, part, by="part rds")
    plane.attach(part)
    session = boto3.session.Session(**LOCAL_CREDENTIALS)
    rds = session.client("rds", region_name=REGION, endpoint_url=instance.aws_endpoint,
                         config=Config(retries={"max_attempts": 1}))
    writer: Writer | None = None
    result: dict[str, Any] = {"benchmark": "rds",
                              "path": "TCP through the fabric to the address the endpoint names" if fabric else
                              f"Unix socket of the node the endpoint names (fabric unavailable: {fabric_error})"}
    try:
        ec2 = session.client("ec2", region_name=REGION, endpoint_url=instance.aws_endpoint)
        vpc = ec2.create_vpc(CidrBlock=environment.regions[REGION].vpc_cidr)["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=zone.subnet_cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
                   for az, zone in environment.regions[REGION].availability_zones.items()]
        rds.create_db_subnet_group(DBSubnetGroupName="orders", DBSubnetGroupDescription="orders", SubnetIds=subnets)
        if fabric is not None:
            fabric.wait_synced()
        rds.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro",
                               MasterUsername="master", MasterUserPassword=PASSWORD, MultiAZ=True, DBName="shop",
                               DBSubnetGroupName="orders", BackupRetentionPeriod=1, AllocatedStorage=20)
        shown = wait_status(rds, "orders", "available")
        fqdn = shown["Endpoint"]["Address"]
        database = part.database("orders", REGION)
        assert database is not None and database.primary is not None
        database.primary.node.query("CREATE TABLE orders (id int PRIMARY KEY)", dbname="shop")

        def target(address: str) -> Target:
            if fabric is not None:
                return ("tcp", address)
            member = next(m for m in database.members() if m.placement.address == address)
            return ("unix", str(member.node.socket_path))

        address = route53.resolve(fqdn)
        assert address is not None, f"{fqdn} does not resolve"
        # The writer is an application instance at the top of the first AZ's subnet (DB nodes take the bottom).
        client_address = str(ipaddress.IPv4Network(next(iter(environment.regions[REGION].availability_zones.values()))
                                                   .subnet_cidr)[-2]) if fabric is not None else None
        writer = Writer(target(address), writes_per_s, client_address)
        route53.on_set = lambda name, value: writer.aim(target(value)) if name == fqdn.rstrip(".") else None
        writer.start()
        deadline = time.monotonic() + 10
        while not writer.acknowledged and time.monotonic() < deadline:
            time.sleep(0.01)
        loop_started = time.monotonic()

        def fail_over(count: int, budget_s: float) -> list[dict[str, Any]]:
            """``count`` completed failovers (the AZs swapped); one RDS abandoned is kept apart and not counted."""
            samples: list[dict[str, Any]] = []
            began = time.monotonic()
            while len(samples) < count and time.monotonic() - began < budget_s:
                sample = one_failover()
                (samples if sample["completed"] else abandoned).append(sample)
            return samples

        def one_failover() -> dict[str, Any]:
            az_before = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]["AvailabilityZone"]
            called = time.monotonic()
            rds.reboot_db_instance(DBInstanceIdentifier="orders", ForceFailover=True)
            az_after = wait_status(rds, "orders", "available")["AvailabilityZone"]
            # Each failover starts under the full load: writes flow again, then at the full rate for HOLD_S.
            deadline = time.monotonic() + 30
            while _first_write_after_outage(writer, called) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            first_write = _first_write_after_outage(writer, called)
            phases = database.last_failover_phases_s
            moved = next((t for t in route53.set_times if t > called), called)
            time.sleep(CATCH_UP_S)
            hold_from = time.monotonic()
            time.sleep(HOLD_S)
            held = sum(1 for _, t in writer.acknowledged if t >= hold_from)
            return {"wall_s": (first_write or time.monotonic()) - called, "phases_s": sum(phases.values()),
                    "dns_moved_s": moved - called, "held_writes_per_s": held / (time.monotonic() - hold_from),
                    "completed": az_after != az_before}

        # RDS's phases as the environment would run them (scaled), then many quick failovers for RPO.
        abandoned: list[dict[str, Any]] = []
        database.timing = RdsTiming(scale=TIMING_SCALE, seed=12)
        timed = fail_over(TIMING_FAILOVERS, 60)
        database.timing = RdsTiming(scale=RPO_SCALE, seed=13)
        quick = fail_over(failovers - len(timed), budget_s)
        writer.stop_event.set()
        writer.join(10)
        assert database.primary is not None
        present = {row[0] for row in database.primary.node.query("SELECT id FROM orders", dbname="shop")}
        acknowledged = {order for order, _ in writer.acknowledged}
        lost = sorted(acknowledged - present)
        result["failover"] = _figures(timed, TIMING_SCALE)
        result["failover_at_rpo_scale"] = _figures(quick, RPO_SCALE)
        result["setup_s"] = round(loop_started - started, 1)
        done = len(timed) + len(quick)
        pages = rds.get_paginator("describe_events").paginate(SourceIdentifier="orders", SourceType="db-instance",
                                                              Duration=60, EventCategories=["failover"])
        started_events = [e for page in pages for e in page["Events"] if e["Message"] == "Multi-AZ instance failover started"]
        held_rates = [s["held_writes_per_s"] for s in timed + quick]
        writing_s = writer.acknowledged[-1][1] - writer.acknowledged[0][1] if len(writer.acknowledged) > 1 else 0.0
        result["rpo"] = {"failovers": done, "writes_per_s": writes_per_s,
                         "achieved_writes_per_s_between_failovers": {
                             "median": round(statistics.median(held_rates), 1) if held_rates else 0,
                             "min": round(min(held_rates), 1) if held_rates else 0,
                             "what": f"acknowledged orders/s over {HOLD_S} s of steady load before each next failover"},
                         "achieved_writes_per_s_overall": round(len(writer.acknowledged) / writing_s, 1) if writing_s else 0,
                         "failovers_started_events": len(started_events),
                         "abandoned_failovers": len(abandoned),
                         "automatic_failovers": max(0, len(started_events) - done - len(abandoned)),
                         "acknowledged_orders": len(acknowledged), "lost_acknowledged_orders": len(lost),
                         "lost_examples": lost[:10], "goal_lost": 0, "met": not lost and done >= failovers,
                         "target_failovers": failovers, "budget_s": budget_s}
        # Memory of a Multi-AZ pair plus one read replica.
        rds.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier="orders")
        wait_status(rds, "orders-replica", "available")
        replica = part.database("orders-replica", REGION)
        assert replica is not None
        nodes = [m.node for m in database.members() + replica.members()]
        pids = [pid for node in nodes for pid in runner.cluster_pids(node.data_dir)]
        result["memory"] = {"nodes": len(nodes), "processes": len(pids),
                            "pss_mib": round(sum(pss_kib(p) for p in pids) / 1024, 1),
                            "what": "PSS of every PostgreSQL process of a Multi-AZ pair + one read replica"}
    finally:
        if writer is not None:
            writer.stop_event.set()
        plane.detach_all()
        part.stop()
        if fabric is not None:
            fabric.stop()
        endpoint.stop()
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _figures(samples: list[dict[str, Any]], scale: TimeScale) -> dict[str, Any]:
    if not samples:
        return {"count": 0}
    overheads = [s["wall_s"] - s["phases_s"] for s in samples]
    return {
        "time_scale": scale.factor,
        "count": len(samples),
        "wall_s": {"median": round(statistics.median(s["wall_s"] for s in samples), 3),
                   "max": round(max(s["wall_s"] for s in samples), 3)},
        "aws_equivalent_s": {"median": round(scale.to_aws(statistics.median(s["wall_s"] for s in samples)), 1),
                             "max": round(scale.to_aws(max(s["wall_s"] for s in samples)), 1)},
        "scaled_phases_s": {"median": round(statistics.median(s["phases_s"] for s in samples), 3)},
        "endpoint_moved_s": {"median": round(statistics.median(s["dns_moved_s"] for s in samples), 3)},
        "overhead_s": {"median": round(statistics.median(overheads), 3), "max": round(max(overheads), 3)},
        "goal": f"wall <= the sampled scaled phases (shutdown + promote + dns) + {OVERHEAD_GOAL_S} s",
        "met": max(overheads) <= OVERHEAD_GOAL_S,
        "note": "the writer re-resolves after every failure: a client's DNS TTL (scaled, >= 1 s) comes on top",
    }


def _first_write_after_outage(writer: Writer, since: float) -> float | None:
    """When the first order after the failover's outage (its first failed write after ``since``) was acknowledged."""
    failed = next((t for t in writer.failure_times if t > since), None)
    if failed is None:
        return None
    return next((t for _, t in writer.acknowledged if t > failed), None)


class _NoFabric:
    def expose(self, address: str, port: int, backend: str) -> int:
        return port

    def unexpose(self, address: str, port: int) -> None:
        pass

    def register_process(self, address: str, pid: int) -> None:
        pass


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failovers", type=int, default=FAILOVERS, help=f"Multi-AZ failovers (default {FAILOVERS})")
    parser.add_argument("--rate", type=float, default=WRITES_PER_S, help=f"orders/s (default {WRITES_PER_S})")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help=f"failover loop limit, s (default {BUDGET_S})")
    arguments = parser.parse_args(argv)
    if arguments.failovers < TIMING_FAILOVERS:
        parser.error(f"--failovers {arguments.failovers}: must be at least {TIMING_FAILOVERS}")
    if not 0 < arguments.rate <= 1000:
        parser.error(f"--rate {arguments.rate}: must be in (0, 1000] orders/s")
    if not 0 < arguments.budget <= 3600:
        parser.error(f"--budget {arguments.budget}: must be in (0, 3600] s")
    arguments.instance = bench_instance(DEFAULT_INSTANCE)
    return arguments


if __name__ == "__main__":
    options = _arguments()
    print(json.dumps(main(options.instance, options.failovers, options.rate, options.budget), indent=1, default=str))
