"""FIS on the local stack: StartExperiment to the first effect a probe sees, and the latency toxic's accuracy.

Runs against the local stack of $GAMEDAY_INSTANCE with the reference stack built; when that stack is
not running, it starts and builds it (`gameday stack up --detach && gameday stack build`) and stops it
afterwards, so `make bench` needs nothing running. Prints one JSON object:

- ``first_effect_ms``: a prober holds a keep-alive HTTP connection from Virginia's address to the
  checkout instance in us-east-1a and sends GET /health back to back, each answered within a few
  ms. A one-action template (``aws:network:disrupt-connectivity`` on that AZ's subnet) is started;
  the effect is the first request left unanswered (the fabric holds it: a cut network stalls; no
  answer within 50 ms, and none in the second after, so a merely slow answer does not count). The
  figure is from just before the StartExperiment call to that request's send time, measured
  --repeats times (default 5); each experiment is then stopped and connectivity awaited. Goal: p50
  and max <= 200 ms.
- ``latency_toxic``: 200 /health round trips on one keep-alive connection to the same instance, before
  and while an experiment runs AWSFIS-Run-Network-Latency (aws:ssm:send-command, 50 ms) on it; the
  p50 must grow by the configured delay, within 1 ms.
- ``latency_toxic_direct``: the toxic alone, in a fabric process of the benchmark's own (127.94.x.x)
  with an echo backend, 400 round trips alternating toxic off and on in blocks of 20, so that the
  machine's load drifts out of the difference. Same goal.
- ``load_average_1m``: the machine's load when the run ended (the figures above depend on it).

    GAMEDAY_INSTANCE=5 .venv/bin/python benchmarks/bench_fis.py [--repeats 5]

Bounded: every wait has a deadline; the whole run stops after --budget seconds (default 120).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchinstance import bench_instance  # noqa: E402  (beside this script)
from base import net  # noqa: E402
from environments import loader  # noqa: E402
from environments.model import LocalEnvironment  # noqa: E402
from stack.local.instance import Instance  # noqa: E402
from stack.local.part import LOCAL_CREDENTIALS  # noqa: E402

REGION, AZ, VANTAGE = "us-east-1", "us-east-1a", "virginia"
GOAL_FIRST_EFFECT_MS = 200.0
GOAL_TOXIC_P50_ERROR_MS = 1.0
TOXIC_DELAY_MS, TOXIC_ROUNDS = 50.0, 200
UNANSWERED_S = 0.05  # a /health answer within one Region takes a few ms: 50 ms unanswered is the cut's first sign
CONFIRM_S = 1.0  # ... confirmed when nothing comes for this long after it (a slow answer is not the cut)
REQUEST = b"GET /health HTTP/1.1\r\nHost: checkout\r\nConnection: keep-alive\r\n\r\n"


class Prober:
    """Back-to-back GET /health on one keep-alive connection from ``source``."""

    def __init__(self, source: str, address: str, port: int) -> None:
        self.sock = socket.create_connection((address, port), timeout=2, source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ask(self) -> bool:
        """One request; False when no answer came within UNANSWERED_S and none comes within CONFIRM_S more
        (a stalled connection: the cut). A late answer is read, so the connection stays in step."""
        self.sock.settimeout(UNANSWERED_S)
        self.sock.sendall(REQUEST)
        data = b""
        try:
            data = self._read(data)
        except socket.timeout:
            self.sock.settimeout(CONFIRM_S)
            try:
                self._read(data)
            except socket.timeout:
                return False
        return True

    def _read(self, data: bytes) -> bytes:
        while b"\r\n\r\n" not in data or not _complete(data):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("checkout closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def _template(fis: Any, subnet_arn: str) -> str:
    created = fis.create_experiment_template(
        description="bench_fis: cut one subnet", roleArn="arn:aws:iam::123456789012:role/gameday-fis",
        stopConditions=[{"source": "none"}],
        targets={"Subnet": {"resourceType": "aws:ec2:subnet", "resourceArns": [subnet_arn], "selectionMode": "ALL"}},
        actions={"Cut": {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": "PT10M"},
                         "targets": {"Subnets": "Subnet"}}})
    return str(created["experimentTemplate"]["id"])


def _until(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"waited {timeout_s} s for {what}")


def first_effect(clients: Any, source: str, repeats: int, budget_end: float) -> dict[str, Any]:
    ec2, fis = clients("ec2"), clients("fis")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:gameday:stack", "Values": ["securecart"]},
                                           {"Name": "availability-zone", "Values": [AZ]}])["Subnets"][0]
    instance = next(i for r in ec2.describe_instances(Filters=[
        {"Name": "subnet-id", "Values": [subnet["SubnetId"]]}, {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "tag:gameday:role", "Values": ["checkout"]}])["Reservations"] for i in r["Instances"])
    template_id = _template(fis, subnet["SubnetArn"])
    figures: list[float] = []
    try:
        for _ in range(repeats):
            if time.monotonic() > budget_end:
                break
            prober = _until(lambda: _connect(source, instance["PrivateIpAddress"]), 30, "checkout reachable again")
            try:
                _until(lambda p=prober: all(p.ask() for _ in range(20)), 30, "20 answers in a row before the experiment")
                started = time.monotonic()
                experiment_id = fis.start_experiment(experimentTemplateId=template_id)["experiment"]["id"]
                while True:
                    sent = time.monotonic()
                    if not prober.ask():
                        figures.append((sent - started) * 1000)
                        break
                    if sent - started > 10:
                        raise TimeoutError("no effect within 10 s of StartExperiment")
            finally:
                prober.close()
            fis.stop_experiment(id=experiment_id)
            _until(lambda ident=experiment_id: fis.get_experiment(id=ident)["experiment"]["state"]["status"] == "stopped",
                   30, "the experiment stopped")
    finally:
        fis.delete_experiment_template(id=template_id)
    p50 = statistics.median(figures) if figures else None
    return {"samples_ms": [round(f, 1) for f in figures], "p50_ms": None if p50 is None else round(p50, 1),
            "max_ms": round(max(figures), 1) if figures else None, "goal_ms": GOAL_FIRST_EFFECT_MS,
            "goal": "StartExperiment to the first request the cut leaves unanswered, p50 and max",
            "met": bool(figures) and len(figures) == repeats and max(figures) <= GOAL_FIRST_EFFECT_MS}


def _connect(source: str, address: str) -> Prober | None:
    try:
        prober = Prober(source, address, 8080)
    except OSError:
        return None
    try:
        if prober.ask():
            return prober
    except OSError:
        pass
    prober.close()
    return None


def latency_toxic(clients: Any, source: str, delay_ms: float, rounds: int) -> dict[str, Any]:
    """/health round trips to the us-east-1a checkout before and during AWSFIS-Run-Network-Latency."""
    ec2, fis = clients("ec2"), clients("fis")
    instance = next(i for r in ec2.describe_instances(Filters=[
        {"Name": "availability-zone", "Values": [AZ]}, {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "tag:gameday:role", "Values": ["checkout"]}])["Reservations"] for i in r["Instances"])
    created = fis.create_experiment_template(
        description="bench_fis: network latency", roleArn="arn:aws:iam::123456789012:role/gameday-fis",
        stopConditions=[{"source": "none"}],
        targets={"Instance": {"resourceType": "aws:ec2:instance", "selectionMode": "ALL", "resourceArns": [
            f"arn:aws:ec2:{REGION}:123456789012:instance/{instance['InstanceId']}"]}},
        actions={"Latency": {"actionId": "aws:ssm:send-command", "targets": {"Instances": "Instance"}, "parameters": {
            "documentArn": f"arn:aws:ssm:{REGION}::document/AWSFIS-Run-Network-Latency",
            "documentParameters": json.dumps({"DelayMilliseconds": str(int(delay_ms))}), "duration": "PT10M"}}})
    template_id = created["experimentTemplate"]["id"]
    prober = _until(lambda: _connect(source, instance["PrivateIpAddress"]), 30, "checkout reachable")

    def timed() -> list[float]:
        prober.sock.settimeout(5)
        out = []
        for _ in range(rounds):
            started = time.perf_counter()
            prober.sock.sendall(REQUEST)
            data = b""
            while b"\r\n\r\n" not in data or not _complete(data):
                data += prober.sock.recv(65536)
            out.append((time.perf_counter() - started) * 1000)
        return out

    try:
        before = timed()
        experiment_id = fis.start_experiment(experimentTemplateId=template_id)["experiment"]["id"]
        _until(lambda: fis.get_experiment(id=experiment_id)["experiment"]["actions"]["Latency"]["state"]["status"]
               == "running", 30, "the latency action running")
        during = timed()
        fis.stop_experiment(id=experiment_id)
        _until(lambda: fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"] == "stopped", 30,
               "the experiment stopped")
    finally:
        prober.close()
        fis.delete_experiment_template(id=template_id)
    added = statistics.median(during) - statistics.median(before)
    error = added - delay_ms
    return {"configured_delay_ms": delay_ms, "round_trips": rounds,
            "baseline_p50_ms": round(statistics.median(before), 2), "during_p50_ms": round(statistics.median(during), 2),
            "added_p50_ms": round(added, 2), "error_p50_ms": round(error, 2),
            "goal": "the p50 round trip grows by the configured delay, within 1 ms",
            "goal_p50_error_ms": GOAL_TOXIC_P50_ERROR_MS, "met": abs(error) <= GOAL_TOXIC_P50_ERROR_MS}


def toxic_direct(delay_ms: float, blocks: int = 10, per_block: int = 20) -> dict[str, Any]:
    """The latency toxic alone: a fabric process of the benchmark's own with an echo backend, round trips
    alternating between toxic off and on in blocks, so that the machine's load drifts out of the difference."""
    import ipaddress
    import shutil
    import subprocess
    import tempfile

    from stack.local.fabric.process import FabricProcess
    from stack.local.fabric.topology import Subnet, Topology

    directory = Path(tempfile.mkdtemp(prefix="bench-fis-"))
    echo = subprocess.Popen([sys.executable, str(ROOT / "tests" / "stack" / "local" / "fabric" / "echo.py"),
                             str(directory / "echo.sock")], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    process = FabricProcess(directory / "fabric")
    off: list[float] = []
    on: list[float] = []
    try:
        assert echo.stdout is not None and echo.stdout.readline() == b"ready\n", "the echo backend did not start"
        fabric = process.start()
        fabric.set_topology(Topology((Subnet("subnet-bench-a", ipaddress.IPv4Network("127.94.1.0/24"), "us-east-1",
                                             "us-east-1a"),
                                      Subnet("subnet-bench-b", ipaddress.IPv4Network("127.94.2.0/24"), "us-east-1",
                                             "us-east-1b"))))
        server = ("127.94.1.10", fabric.expose("127.94.1.10", 0, f"unix:{directory}/echo.sock"))
        with socket.create_connection(server, timeout=5, source_address=("127.94.2.10", 0)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(blocks):
                for toxics, into in (([], off), ([{"address": server[0], "kind": "latency", "delay_ms": delay_ms}], on)):
                    fabric.request("set_toxics", toxics=toxics)
                    for _ in range(per_block):
                        started = time.perf_counter()
                        sock.sendall(b"ping")
                        received = b""
                        while len(received) < 4:
                            received += sock.recv(4 - len(received))
                        into.append((time.perf_counter() - started) * 1000)
    finally:
        process.stop()
        echo.kill()
        echo.wait()
        shutil.rmtree(directory, ignore_errors=True)
    added = statistics.median(on) - statistics.median(off)
    return {"configured_delay_ms": delay_ms, "round_trips": len(on) + len(off),
            "off_p50_ms": round(statistics.median(off), 3), "on_p50_ms": round(statistics.median(on), 3),
            "added_p50_ms": round(added, 3), "error_p50_ms": round(added - delay_ms, 3),
            "goal": "the toxic alone (fabric + echo, on/off interleaved): p50 grows by the delay, within 1 ms",
            "goal_p50_error_ms": GOAL_TOXIC_P50_ERROR_MS, "met": abs(added - delay_ms) <= GOAL_TOXIC_P50_ERROR_MS}


def main(number: int, repeats: int, budget_s: float) -> dict[str, Any]:
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    instance = Instance(number, base)
    environment = instance.resolved()
    session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def clients(service: str) -> Any:
        return session.client(service, region_name=REGION, endpoint_url=instance.aws_endpoint)

    source = net.vantage_address(environment.vantage_points[VANTAGE].subnet)
    end = time.monotonic() + budget_s
    return {"benchmark": "fis", "instance": number, "time_scale": environment.time_scale,
            "first_effect": first_effect(clients, source, repeats, end),
            "latency_toxic": latency_toxic(clients, source, TOXIC_DELAY_MS, TOXIC_ROUNDS),
            "latency_toxic_direct": toxic_direct(TOXIC_DELAY_MS), "load_average_1m": round(os.getloadavg()[0], 2)}


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="experiments started (default 5)")
    parser.add_argument("--budget", type=float, default=120.0, help="stop after this many seconds (default 120)")
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.repeats <= 50:
        parser.error(f"--repeats {arguments.repeats}: must be 1-50")
    if not 0 < arguments.budget <= 1800:
        parser.error(f"--budget {arguments.budget}: must be in (0, 1800] s")
    arguments.instance = bench_instance()
    return arguments


def _gameday(number: int, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GAMEDAY_INSTANCE": str(number)})


if __name__ == "__main__":
    options = _arguments()
    started = _gameday(options.instance, "stack", "status").returncode != 0  # nothing running: ours to start and stop
    try:
        if started:
            _gameday(options.instance, "stack", "up", "--detach").check_returncode()
        _gameday(options.instance, "stack", "build").check_returncode()
        print(json.dumps(main(options.instance, options.repeats, options.budget), indent=1))
    finally:
        if started:
            _gameday(options.instance, "stack", "down")
