"""The real-AWS path on the local stack: a small second stack built beside the reference one, found by its tags
(attach mode), then torn down by its run tag: nothing of it is left, the parts stay healthy, and the session's
reference stack is untouched."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from environments.model import LocalEnvironment
from stack import builder, discovery, teardown
from stack.handles import ReferenceStack
from stack.local import supervisor
from tests.stack.waiting import until

STACK, RUN = "td", "teardown-run"


def _beside(environment: LocalEnvironment) -> LocalEnvironment:
    """Two Regions (a writer's and its replica's), in the address block the instance leaves free
    after its four VPCs (second octet + 4): nothing overlaps the reference stack."""
    def moved(cidr: str) -> str:
        network = ipaddress.IPv4Network(cidr)
        return f"{ipaddress.IPv4Address(int(network.network_address) + (4 << 16))}/{network.prefixlen}"

    regions = {}
    for name in ("us-east-1", "ap-southeast-1"):
        region = environment.regions[name]
        regions[name] = region.model_copy(update={"vpc_cidr": moved(region.vpc_cidr), "availability_zones": {
            az: zone.model_copy(update={"subnet_cidr": moved(zone.subnet_cidr)})
            for az, zone in region.availability_zones.items()}})
    stack = environment.stack.model_copy(update={"zone": "teardown.example.", "database_identifier": "orders-td",
                                                 "replica_region": "ap-southeast-1", "database_region": "us-east-1"})
    return environment.model_copy(update={"regions": regions, "stack": stack})


@pytest.mark.slow
def test_attach_then_teardown_on_the_local_stack(stack: ReferenceStack, environment: LocalEnvironment,
                                                 aws_client: Any, local_stack: Any) -> None:
    clients = lambda service, region: aws_client(service, region)  # noqa: E731
    small = _beside(environment)
    # Generous waits: the machine may be loaded, and this stack starts PostgreSQL nodes and checkout processes.
    # No catalog: the global table is the account's one `catalog`, which the reference stack beside it owns.
    options = builder.BuildOptions(stack_name=STACK, run_id=RUN, wait_delay_s=0.25, wait_attempts=960, catalog=False,
                                   nameserver=(local_stack.dns_host, local_stack.dns_port))
    try:
        built = builder.Builder(small, clients, options).build()
        tags = discovery.TagContract(("gameday:stack", STACK), ("gameday:role", "checkout"))
        assert discovery.Discovery(small, clients, tags).discover() == built

        found = teardown.find(clients, list(small.regions), STACK, RUN)
        assert {f.kind for f in found} == {"hosted-zone", "health-check", "instance", "db-replica", "db-instance",
                                           "db-subnet-group", "subnet", "vpc", "secret", "cloudfront-distribution",
                                           "origin-access-control", "s3-bucket"}
    finally:
        teardown.remove(clients, teardown.find(clients, list(small.regions), STACK, RUN), delay_s=0.25, attempts=960)

    assert teardown.find(clients, list(small.regions), STACK, RUN) == []
    gone = {i.instance_id for i in built.instances}

    def settled() -> bool:
        live = supervisor.live_status(local_stack.aws_endpoint)
        running = {i["instance_id"] for i in live["parts"]["ec2"]["instances"]}
        events = " ".join(live["parts"]["rds"]["events"])
        deleted = all(f"{db} RDS-EVENT-0003" in events for db in ("orders-td", "orders-td-replica"))
        return bool(supervisor.degraded_parts(live)) or (deleted and not gone & running)

    # The replica is deleted, then its source at once: the RDS part must not try to promote the replica it is
    # deleting (it did, and went degraded), and both end with RDS-EVENT-0003 (deleted).
    until(settled, "the parts to stop the small stack's checkout processes and delete its databases", timeout_s=60)
    degraded = supervisor.degraded_parts(supervisor.live_status(local_stack.aws_endpoint))
    assert degraded == {}, supervisor.describe_degraded(degraded)
    # The reference stack is still whole: discovery finds every part of it.
    assert discovery.discover(environment, clients).zone_id == stack.zone_id
