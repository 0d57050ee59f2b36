"""A Region-DR runbook killed after the promotion: `gameday scan` reports the broken topology and the orders
only the promoted copy holds, `gameday recover` restores the topology without losing them, and
`gameday stack build` converges a promotion made outside gameday only once those orders are taken care of."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from environments import loader
from gameday.fixtures import LocalStackInfo
from stack import orders, topology
from stack.handles import ReferenceStack

PROMOTE_AND_HANG = textwrap.dedent("""
    import sys, time, boto3
    from environments import loader
    from faults import runbook
    from faults.guard import Guard, Policy
    from faults.journal import Journal
    endpoint, target, zone_id, record, region, identifier, secret_id, secret_region, dns_host, dns_port = sys.argv[1:11]
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    clients = lambda service, r: session.client(service, region_name=r, endpoint_url=endpoint)
    guard = Guard(Policy.for_environment(loader.load("local")))
    journal = Journal(target)
    with runbook.PromoteReplica(clients, journal, region=region, db_instance_identifier=identifier, secret_id=secret_id,
                                secret_region=secret_region, nameserver=(dns_host, int(dns_port)), wait_delay_s=0.25,
                                guard=guard):
        with runbook.PointWriter(clients, journal, zone_id=zone_id, record_name=record, region=region,
                                 db_instance_identifier=identifier, guard=guard):
            print("promoted", flush=True)
            time.sleep(600)
""")


@pytest.fixture
def spec(stack: ReferenceStack, aws_client: Any, local_stack: LocalStackInfo) -> Iterator[topology.Spec]:
    """The reference stack's DR topology, put back to the spec afterwards whatever the test left."""
    assert stack.replica is not None, "the local environment has a cross-Region replica"
    built = topology.spec_of(loader.load("local"))
    yield built
    topology.converge(aws_client, built, (local_stack.dns_host, local_stack.dns_port), copy_back=True, delay_s=0.25)


def _cli(local_stack: LocalStackInfo, journal: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GAMEDAY_JOURNAL_DIR=str(journal), GAMEDAY_INSTANCE=str(local_stack.instance))
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _orphans_after_orders(stack: ReferenceStack, aws_client: Any, spec: topology.Spec, nameserver: tuple[str, int],
                          count: int) -> list[str]:
    """Place orders through checkout until ``count`` acknowledged ones exist only on the promoted copy."""
    instance = stack.instances[0]
    deadline = time.monotonic() + 120
    acknowledged: list[str] = []
    while time.monotonic() < deadline:
        response = requests.post(f"http://{instance.private_ip}:{instance.port}/orders", timeout=5, json={
            "sku": "SC-STCK-004", "quantity": 1, "client_order_id": f"split-{time.time_ns()}"})
        if response.status_code == 201:
            acknowledged.append(response.json()["order_id"])
        orphaned = {o.order_id for o in topology.orphans(aws_client, spec, nameserver)}
        if len(orphaned & set(acknowledged)) >= count:
            return sorted(orphaned & set(acknowledged))
        time.sleep(0.2)
    raise AssertionError(f"no {count} acknowledged orders on the promoted copy within 120 s (acknowledged {acknowledged})")


def _on_writer(aws_client: Any, spec: topology.Spec, nameserver: tuple[str, int], ids: list[str]) -> set[str]:
    writer = topology.describe(aws_client, spec.writer)
    assert writer is not None
    connection = orders.connect(aws_client, orders.copy_of(aws_client, writer, spec.writer.region, spec.secret_id,
                                                           spec.writer.region), nameserver)
    try:
        return {str(r[0]) for r in connection.run("SELECT order_id FROM orders WHERE order_id::text = ANY(:ids)", ids=ids)}
    finally:
        connection.close()


def test_kill_9_after_the_promotion_then_scan_and_recover(local_stack: LocalStackInfo, aws_client: Any,
                                                         stack: ReferenceStack, spec: topology.Spec,
                                                         tmp_path: Path) -> None:
    nameserver = (local_stack.dns_host, local_stack.dns_port)
    assert stack.replica is not None
    env = dict(os.environ, GAMEDAY_JOURNAL_DIR=str(tmp_path), GAMEDAY_INSTANCE=str(local_stack.instance))
    victim = subprocess.Popen([sys.executable, "-c", PROMOTE_AND_HANG, local_stack.aws_endpoint,
                               f"local-{local_stack.instance}", stack.zone_id, stack.names.database, stack.replica.region,
                               stack.replica.identifier, stack.replica.secret_id, stack.database.region if stack.database
                               else "", local_stack.dns_host, str(local_stack.dns_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert victim.stdout is not None and victim.stdout.readline().strip() == "promoted", victim.stderr.read()[-2000:] \
            if victim.stderr else ""
        split = _orphans_after_orders(stack, aws_client, spec, nameserver, 2)
    finally:
        victim.kill()  # SIGKILL: no finally, no rollback
        victim.wait(timeout=10)

    scan = _cli(local_stack, tmp_path, "scan")
    assert scan.returncode == 1, scan.stdout + scan.stderr
    for expected in ["replica-promoted", "writer-record", *[f"split-brain-order      {stack.replica.region:<15} {i}"
                                                            for i in split]]:
        assert expected in scan.stdout, scan.stdout

    recovered = _cli(local_stack, tmp_path, "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    lines = [line for line in recovered.stdout.splitlines() if line.startswith("rolled back")]
    assert [line.split()[2] for line in lines] == ["runbook.point_writer", "runbook.promote_replica"], recovered.stdout
    assert topology.drift(aws_client, spec) == []
    assert _on_writer(aws_client, spec, nameserver, split) == set(split), "orders only the promoted copy held were lost"

    clean = _cli(local_stack, tmp_path, "scan")
    assert clean.returncode == 0 and "no leftover faults" in clean.stdout, clean.stdout + clean.stderr
    again = _cli(local_stack, tmp_path, "recover")
    assert again.returncode == 0 and "nothing to recover" in again.stdout, again.stdout + again.stderr


def test_stack_build_refuses_to_drop_split_brain_orders_then_converges(local_stack: LocalStackInfo, aws_client: Any,
                                                                       stack: ReferenceStack, spec: topology.Spec,
                                                                       tmp_path: Path) -> None:
    """A promotion and a writer switch made with raw API calls, outside any journal (as a hand-run runbook)."""
    nameserver = (local_stack.dns_host, local_stack.dns_port)
    assert spec.replica is not None
    rds = aws_client("rds", spec.replica.region)
    rds.promote_read_replica(DBInstanceIdentifier=spec.replica.identifier)
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=spec.replica.identifier,
                                                 WaiterConfig={"Delay": 0.25, "MaxAttempts": 480})
    promoted = topology.describe(aws_client, spec.replica)
    assert promoted is not None and not promoted.get("ReadReplicaSourceDBInstanceIdentifier")
    topology.point_record(aws_client, stack.zone_id, spec.writer_record, promoted["Endpoint"]["Address"],
                          topology.value(topology.record(aws_client, stack.zone_id, spec.writer_record)))
    split = _orphans_after_orders(stack, aws_client, spec, nameserver, 2)

    scan = _cli(local_stack, tmp_path, "scan")
    assert scan.returncode == 1 and "replica-promoted" in scan.stdout and all(i in scan.stdout for i in split), scan.stdout

    # Nothing journaled it, so recover cannot restore it: it says so, one line per item, and fails.
    recovered = _cli(local_stack, tmp_path, "recover")
    assert recovered.returncode == 1, recovered.stdout + recovered.stderr
    assert f"not restored replica-promoted {spec.replica.region} {spec.replica.identifier}" in recovered.stdout
    assert all(f"not restored split-brain-order {spec.replica.region} {i}" in recovered.stdout for i in split), \
        recovered.stdout

    refused = _cli(local_stack, tmp_path, "stack", "build")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--copy-back-orphaned-orders" in refused.stderr and all(i in refused.stderr for i in split), refused.stderr
    still = topology.describe(aws_client, spec.replica)
    assert still is not None and not still.get("ReadReplicaSourceDBInstanceIdentifier"), "nothing may change on refusal"

    built = _cli(local_stack, tmp_path, "stack", "build", "--copy-back-orphaned-orders")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "converged: pointed" in built.stdout and "converged: rebuilt" in built.stdout, built.stdout
    assert topology.drift(aws_client, spec) == []
    assert _on_writer(aws_client, spec, nameserver, split) == set(split)
    clean = _cli(local_stack, tmp_path, "scan")
    assert clean.returncode == 0, clean.stdout + clean.stderr
