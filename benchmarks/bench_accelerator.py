"""Global Accelerator's data plane: what the static addresses add, and how fast they fail over.

A control plane and the accelerator part run in this process (no fabric: the figures are the
relay's own); two endpoints (us-east-1, us-west-2) are small TCP servers on instances' private
addresses that greet with their Region and then echo. Prints one JSON object:

- ``round_trip``: added time per request/response on an open connection (relay vs direct), p50/p99;
- ``connect``: added time to open a connection and get the greeting (routing happens here), p50/p99;
- ``connections_per_s``: connections opened and greeted through one static address, sequentially;
- ``failover``: from the us-east-1 endpoint's loss to the first connection greeted by us-west-2,
  against the model: (ThresholdCount - 1) to ThresholdCount check intervals, scaled, plus one check timeout.

Run: GAMEDAY_INSTANCE=<k> .venv/bin/python benchmarks/bench_accelerator.py (bounded: about 20 s).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from environments import loader  # noqa: E402
from environments.model import LocalEnvironment, LocalSettings  # noqa: E402
from stack.local.accelerator.health import CHECK_TIMEOUT_AWS_S, MIN_TIMEOUT_S  # noqa: E402
from stack.local.accelerator.part import AcceleratorPart  # noqa: E402
from stack.local.controlplane.app import ControlPlane  # noqa: E402
from stack.local.endpoint import AwsEndpoint  # noqa: E402
from benchinstance import bench_instance  # noqa: E402  (beside this script)
from stack.local.instance import Instance  # noqa: E402
from stack.local.part import LOCAL_CREDENTIALS, PartContext  # noqa: E402
from stack.local.services import AcceleratorHealth  # noqa: E402

GOALS = {"round_trip_added_p50_ms": 0.3, "round_trip_added_p99_ms": 2.0}
ROUND_TRIPS = 2000
CONNECTS = 300
RATE_SECONDS = 2.0
INTERVAL_S, THRESHOLD = 10, 3  # AWS's fastest checks, the default threshold
FAILOVER_LIMIT_S = 30.0


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Endpoints:
    """Greeting echo servers on an asyncio loop in a thread: b"<region>\\n", then every byte back."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: dict[str, asyncio.Server] = {}
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def start(self, region: str, address: str, port: int) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                writer.write(region.encode() + b"\n")
                while data := await reader.read(65536):
                    writer.write(data)
            except OSError:
                pass  # the relay cut the connection (the endpoint's loss, or the benchmark's end)
            finally:
                writer.close()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(serve, address, port, reuse_address=True)

        self.servers[region] = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def stop(self, region: str) -> None:
        server = self.servers.pop(region)

        async def stop() -> None:
            server.close()
            if hasattr(server, "close_clients"):
                server.close_clients()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)


def greet(address: str, port: int, source: str, timeout_s: float = 5.0) -> tuple[socket.socket, str]:
    sock = socket.create_connection((address, port), timeout_s, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    region = b""
    while not region.endswith(b"\n"):
        chunk = sock.recv(64)
        if not chunk:
            raise ConnectionError("closed before the greeting")
        region += chunk
    return sock, region.decode().strip()


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def round_trips(sock: socket.socket) -> list[float]:
    took = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        sock.sendall(b"x" * 64)
        got = 0
        while got < 64:
            got += len(sock.recv(64 - got))
        took.append((time.perf_counter() - started) * 1000)
    return took


def timed(open_one: Callable[[], tuple[socket.socket, str]], count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        sock, _ = open_one()
        took.append((time.perf_counter() - started) * 1000)
        sock.close()
    return took


def main() -> dict[str, Any]:
    number = bench_instance()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    host = Instance(number, base).control_host
    port = free_port(host)
    # The instance holds the environment as written; resolving it (the instance's address ranges) is the parts'
    # and the control plane's job. An instance made of a resolved environment shifted every range twice: on
    # instance 8 the accelerator's static addresses left 127.0.0.0/8.
    instance = Instance(number, base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port)}))
    environment = instance.resolved()
    scale = environment.timescale
    plane = ControlPlane(logging.getLogger("bench.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, host, port)
    endpoint.start()
    part = AcceleratorPart()
    part.start(PartContext(instance, environment, instance.state_dir, logging.getLogger("bench.accelerator"),
                           plane.services, part="accelerator"))
    plane.services.provide(AcceleratorHealth, part, by="accelerator")
    plane.attach(part)
    session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint.url)

    servers = Endpoints()
    try:
        ga = client("globalaccelerator", "us-west-2")
        listener_port, endpoint_port = free_port("127.0.0.1"), free_port("127.0.0.1")
        accelerator = ga.create_accelerator(Name="bench", IdempotencyToken=uuid.uuid4().hex)["Accelerator"]
        static = accelerator["IpSets"][0]["IpAddresses"][0]
        listener = ga.create_listener(AcceleratorArn=accelerator["AcceleratorArn"], Protocol="TCP",
                                      PortRanges=[{"FromPort": listener_port, "ToPort": listener_port}],
                                      IdempotencyToken=uuid.uuid4().hex)["Listener"]
        private = {}
        for index, region in enumerate(("us-east-1", "us-west-2")):
            ec2 = client("ec2", region)
            cidr = f"127.98.{2 * number + index}.0/24"  # the benchmark's own addresses, away from stacks and tests
            vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
            found = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
            private[region] = found["PrivateIpAddress"]
            servers.start(region, private[region], endpoint_port)
            ga.create_endpoint_group(ListenerArn=listener["ListenerArn"], EndpointGroupRegion=region,
                                     IdempotencyToken=uuid.uuid4().hex, HealthCheckPort=endpoint_port,
                                     EndpointConfigurations=[{"EndpointId": found["InstanceId"]}],
                                     HealthCheckIntervalSeconds=INTERVAL_S, ThresholdCount=THRESHOLD,
                                     PortOverrides=[{"ListenerPort": listener_port, "EndpointPort": endpoint_port}])
        virginia = str(environment.vantage_points["virginia"].network.network_address + 77)

        direct_sock, _ = greet(private["us-east-1"], endpoint_port, virginia)
        relayed_sock, first = greet(static, listener_port, virginia)
        assert first == "us-east-1", first
        direct_rt, relayed_rt = round_trips(direct_sock), round_trips(relayed_sock)
        direct_sock.close()
        relayed_sock.close()
        direct_c = timed(lambda: greet(private["us-east-1"], endpoint_port, virginia), CONNECTS)
        relayed_c = timed(lambda: greet(static, listener_port, virginia), CONNECTS)
        opened, started = 0, time.monotonic()
        while time.monotonic() - started < RATE_SECONDS:
            sock, _ = greet(static, listener_port, virginia)
            sock.close()
            opened += 1
        rate = opened / (time.monotonic() - started)

        lost = time.monotonic()
        servers.stop("us-east-1")
        moved_s = None
        while time.monotonic() - lost < FAILOVER_LIMIT_S:
            try:
                sock, region = greet(static, listener_port, virginia, timeout_s=1.0)
                sock.close()
                if region == "us-west-2":
                    moved_s = time.monotonic() - lost
                    break
            except OSError:
                pass
            time.sleep(0.01)
        # The loss falls somewhere in a check interval: THRESHOLD failed checks take (THRESHOLD - 1) to
        # THRESHOLD intervals, plus at most one check's timeout (a refused connection fails at once).
        model_min_s = scale.to_wall(INTERVAL_S * (THRESHOLD - 1))
        model_max_s = scale.to_wall(INTERVAL_S * THRESHOLD) + scale.timeout(CHECK_TIMEOUT_AWS_S, floor=MIN_TIMEOUT_S)
        (d50, d99), (r50, r99) = percentiles(direct_rt), percentiles(relayed_rt)
        (cd50, cd99), (cr50, cr99) = percentiles(direct_c), percentiles(relayed_c)
        report: dict[str, Any] = {
            "instance": number, "time_scale": scale.factor,
            "load_average": os.getloadavg()[0],
            "round_trip": {"direct_p50_ms": round(d50, 3), "direct_p99_ms": round(d99, 3),
                           "relayed_p50_ms": round(r50, 3), "relayed_p99_ms": round(r99, 3),
                           "added_p50_ms": round(r50 - d50, 3), "added_p99_ms": round(r99 - d99, 3)},
            "connect": {"direct_p50_ms": round(cd50, 3), "direct_p99_ms": round(cd99, 3),
                        "relayed_p50_ms": round(cr50, 3), "relayed_p99_ms": round(cr99, 3),
                        "added_p50_ms": round(cr50 - cd50, 3), "added_p99_ms": round(cr99 - cd99, 3)},
            "connections_per_s": round(rate, 1),
            "failover": {"wall_s": None if moved_s is None else round(moved_s, 3),
                         "aws_s": None if moved_s is None else round(scale.to_aws(moved_s), 1),
                         "model_min_wall_s": round(model_min_s, 3), "model_max_wall_s": round(model_max_s, 3),
                         "within_model": moved_s is not None and model_min_s <= moved_s <= model_max_s},
            "goals": GOALS,
        }
        report["met"] = {"round_trip_added_p50_ms": report["round_trip"]["added_p50_ms"] <= GOALS["round_trip_added_p50_ms"],
                         "round_trip_added_p99_ms": report["round_trip"]["added_p99_ms"] <= GOALS["round_trip_added_p99_ms"],
                         "failover_within_model": report["failover"]["within_model"]}
        return report
    finally:
        for region in list(servers.servers):
            servers.stop(region)
        plane.detach_all()
        part.stop()
        endpoint.stop()


if __name__ == "__main__":
    logging.disable(logging.INFO)
    print(json.dumps(main(), indent=2))
