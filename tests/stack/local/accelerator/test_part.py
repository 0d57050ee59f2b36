"""The accelerator part on a control plane (no fabric): real connections to the static addresses
reach the nearest Region's endpoint, move when its health checks fail, and DescribeEndpointGroup
shows the checks' verdicts. Endpoints are small HTTP servers on the instances' private addresses."""
from __future__ import annotations

import http.server
import logging
import socket
import threading
import uuid
from typing import Any, Iterator

import boto3
import pytest
import requests

from base.deadline import until
from environments import loader
from environments.model import LocalEnvironment, LocalSettings
from stack.local.accelerator.part import AcceleratorPart
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.services import AcceleratorHealth
from tests.conftest import worker_index

TIME_SCALE = 0.05  # a 10 s check interval runs every 0.5 s


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Region(http.server.ThreadingHTTPServer):
    """An endpoint: answers its Region's name and the client address it saw."""

    def __init__(self, address: str, port: int, region: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = f"{region} {self.client_address[0]}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        super().__init__((address, port), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def plane() -> Iterator[tuple[Any, AcceleratorPart]]:
    port = free_port()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port), "time_scale": TIME_SCALE,
                                          "accelerator_cidr": f"127.95.{16 * worker_index()}.0/20"})
    instance = Instance(0, environment)
    control = ControlPlane(logging.getLogger("test.controlplane"), instance=instance)
    endpoint = AwsEndpoint(control, "127.0.0.1", port)
    endpoint.start()
    part = AcceleratorPart()
    context = PartContext(instance, environment, instance.state_dir, logging.getLogger("test.accelerator"),
                          control.services, part="accelerator")
    session = boto3.session.Session(**LOCAL_CREDENTIALS)
    try:
        part.start(context)
        control.services.provide(AcceleratorHealth, part, by="accelerator")
        control.attach(part)
        yield (lambda service, region: session.client(service, region_name=region, endpoint_url=endpoint.url)), part
    finally:
        control.detach_all()
        part.stop()
        endpoint.stop()


def get(address: str, port: int, source: str) -> str:
    with requests.Session() as session:
        session.mount("http://", _Bound(source))
        return session.get(f"http://{address}:{port}/", timeout=10).text


class _Bound(requests.adapters.HTTPAdapter):
    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def test_connections_go_to_the_nearest_healthy_region_and_move_when_its_checks_fail(plane: Any) -> None:
    client, part = plane
    ga, servers = client("globalaccelerator", "us-west-2"), {}
    listener_port, endpoint_port = free_port(), free_port()
    accelerator = ga.create_accelerator(Name="shop", IdempotencyToken=uuid.uuid4().hex)["Accelerator"]
    static = accelerator["IpSets"][0]["IpAddresses"]
    listener = ga.create_listener(AcceleratorArn=accelerator["AcceleratorArn"], Protocol="TCP",
                                  PortRanges=[{"FromPort": listener_port, "ToPort": listener_port}],
                                  IdempotencyToken=uuid.uuid4().hex)["Listener"]
    groups = {}
    try:
        for index, region in enumerate(("us-east-1", "us-west-2")):
            ec2 = client("ec2", region)
            cidr = f"127.97.{2 * worker_index() + index}.0/24"  # 127.97/16: no stack, test or benchmark uses it
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]
            found = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                                      SubnetId=subnet["SubnetId"])["Instances"][0]
            servers[region] = Region(found["PrivateIpAddress"], endpoint_port, region)
            groups[region] = ga.create_endpoint_group(
                ListenerArn=listener["ListenerArn"], EndpointGroupRegion=region, IdempotencyToken=uuid.uuid4().hex,
                EndpointConfigurations=[{"EndpointId": found["InstanceId"]}], HealthCheckPort=endpoint_port,
                HealthCheckProtocol="HTTP", HealthCheckIntervalSeconds=10, ThresholdCount=2,
                PortOverrides=[{"ListenerPort": listener_port, "EndpointPort": endpoint_port}])["EndpointGroup"]
        virginia, oregon = "127.200.1.77", "127.200.2.77"

        def health(region: str) -> str:
            described = ga.describe_endpoint_group(EndpointGroupArn=groups[region]["EndpointGroupArn"])
            return str(described["EndpointGroup"]["EndpointDescriptions"][0]["HealthState"])

        # Both checked healthy first: a first check that times out on a busy machine (1 s) marks an endpoint
        # UNHEALTHY until ThresholdCount passes in a row, and the nearest Region would then rightly be skipped.
        for region in groups:
            until(lambda name=region: health(name), 10, f"{region}'s endpoint checked healthy",
                  accept=lambda s: s == "HEALTHY")
        assert get(static[0], listener_port, virginia) == f"us-east-1 {virginia}"  # the client's own address arrives
        assert get(static[1], listener_port, oregon) == f"us-west-2 {oregon}"
        servers.pop("us-east-1").close()  # the Region's endpoint stops answering
        until(lambda: health("us-east-1"), 10, "us-east-1's endpoint checked unhealthy", accept=lambda s: s == "UNHEALTHY")
        assert get(static[0], listener_port, virginia) == f"us-west-2 {virginia}"  # same address, no DNS
        assert part.status()["routed"]["us-west-2"] >= 2
        ga.update_endpoint_group(EndpointGroupArn=groups["us-west-2"]["EndpointGroupArn"], TrafficDialPercentage=0)
        assert get(static[1], listener_port, oregon) == f"us-west-2 {oregon}"  # failover ignores a dial at 0
    finally:
        for server in servers.values():
            server.close()
        for group in ga.list_endpoint_groups(ListenerArn=listener["ListenerArn"])["EndpointGroups"]:
            ga.delete_endpoint_group(EndpointGroupArn=group["EndpointGroupArn"])
        ga.delete_listener(ListenerArn=listener["ListenerArn"])
        ga.update_accelerator(AcceleratorArn=accelerator["AcceleratorArn"], Enabled=False)
        ga.delete_accelerator(AcceleratorArn=accelerator["AcceleratorArn"])
    assert part.status()["listening"] == []
