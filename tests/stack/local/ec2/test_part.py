"""Ec2Part against a moto server: EC2 calls start, stop, restart and clean up real checkout processes."""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from base.deadline import until
from environments.loader import load
from environments.model import LocalEnvironment, LocalSettings
from base.errors import StackError
from stack.local.ec2 import unixhttp
from stack.local.ec2.errors import CheckoutStartError
from stack.local.ec2.part import Ec2Part
from stack.local.zygote.client import Zygote
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, ApiRequest, Change, PartContext
from stack.local.services import Network, Services

from . import postgres
from .nameserver import Nameserver
from .rig import Rig

REGION = "us-east-1"
ROLE = [{"ResourceType": "instance", "Tags": [{"Key": "gameday:role", "Value": "checkout"}]}]
AMI = "ami-12c6146b"


def provided(fabric: Network) -> Services:
    services = Services()
    services.provide(Network, fabric, by="test")
    return services


class RecordingFabric:
    """Stands in for the fabric part: records what the EC2 part asks of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.exposed: dict[tuple[str, int], str] = {}
        self.refuse = ""

    def expose(self, address: str, port: int, backend: str) -> int:
        self.calls.append(("expose", address, port, backend))
        if self.refuse:
            raise StackError(self.refuse)
        self.exposed[(address, port)] = backend
        return port

    def unexpose(self, address: str, port: int) -> None:
        self.calls.append(("unexpose", address, port))
        del self.exposed[(address, port)]

    def register_process(self, address: str, pid: int) -> None:
        self.calls.append(("register_process", address, pid))


class Notifier:
    """The control plane's notify hook, in miniature: every EC2 call is passed to the part's on_change."""

    def __init__(self, part: Ec2Part, client: Any) -> None:
        self.part = part
        self.client = client
        self.raw = b""
        client.meta.events.register("after-call.ec2.*", self._keep_raw)

    def _keep_raw(self, http_response: Any, **_: Any) -> None:
        self.raw = http_response.content

    def __call__(self, operation: str, **params: Any) -> dict[str, Any]:
        response = getattr(self.client, _snake(operation))(**params)
        self.part.on_change(Change(ApiRequest("ec2", operation, REGION, params), self.raw))
        self.part.settle(60)
        return response


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    return until(condition, timeout_s, what, interval_s=0.02)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Stack:
    def __init__(self, part: Ec2Part, ec2: Any, call: Notifier, subnet: dict[str, Any], database: postgres.Server,
                 fabric: RecordingFabric, state_dir: Path) -> None:
        self.part, self.ec2, self.call = part, ec2, call
        self.subnet_id, self.subnet_cidr = subnet["SubnetId"], subnet["CidrBlock"]
        self.database, self.fabric, self.state_dir = database, fabric, state_dir

    def run(self, user_data: dict[str, Any] | str | None = None, tagged: bool = True) -> str:
        params: dict[str, Any] = {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": self.subnet_id}
        if tagged:
            params["TagSpecifications"] = ROLE
        if user_data is not None:
            params["UserData"] = user_data if isinstance(user_data, str) else json.dumps(user_data)
        return self.call("RunInstances", **params)["Instances"][0]["InstanceId"]

    def state(self, instance_id: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def user_data(self) -> dict[str, Any]:
        return {"db_instance_identifier": "orders", "db_region": REGION, "db_user": postgres.USER,
                "db_password": postgres.PASSWORD}


class World:
    """What the tests of a module share: a moto server, a database behind its endpoint name, a subnet."""

    def __init__(self, rig: Rig, address_base: str) -> None:
        self.rig = rig
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        rig.callback(server.stop)
        port = server._server.server_address[1]  # type: ignore[union-attr]
        endpoint = f"http://127.0.0.1:{port}"
        # moto's backends are global to the process: start from an empty account, and leave one behind
        # (another test in this worker may create an instance of the same name).
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        rig.callback(lambda: requests.post(f"{endpoint}/moto-api/reset", timeout=10))
        session = boto3.session.Session(region_name=REGION, **LOCAL_CREDENTIALS)
        rds = session.client("rds", endpoint_url=endpoint)
        db_endpoint = rds.create_db_instance(
            DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro", MasterUsername="x",
            MasterUserPassword="unused-by-the-test", AllocatedStorage=20)["DBInstance"]["Endpoint"]["Address"]
        self.database = rig.start_database()
        nameserver = rig.enter_context(Nameserver("127.0.0.1", db_endpoint, self.database.address, ttl_s=1))
        base: LocalEnvironment = load("local")  # type: ignore[assignment]
        self.environment = base.model_copy(
            update={"local": LocalSettings(aws_endpoint_port=port, dns_port=nameserver.port)})
        self.ec2 = session.client("ec2", endpoint_url=endpoint)
        vpc = self.ec2.create_vpc(CidrBlock=f"{address_base}.0/24")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock=f"{address_base}.192/26",
                                             AvailabilityZone="us-east-1a")["Subnet"]

    def terminate_all(self) -> None:
        """Leave no instance `running` in moto for the next test (without telling any part)."""
        reservations = self.ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopped"]}])["Reservations"]
        ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
        if ids:
            self.ec2.terminate_instances(InstanceIds=ids)


@pytest.fixture(scope="module")
def world(pg_cluster: postgres.Cluster, address_base: str) -> Iterator[World]:
    with Rig(pg_cluster, address_base) as rig:
        yield World(rig, address_base)


@pytest.fixture
def stack(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="gd-ec2-part-"))
    monkeypatch.setenv("XDG_STATE_HOME", str(workdir / "logs"))  # process logs stay in the test's dir
    state_dir = workdir / "state"
    state_dir.mkdir()
    fabric = RecordingFabric()
    part = Ec2Part(restart_limit=1, restart_window_s=60)
    context = PartContext(Instance(0, world.environment), world.environment, state_dir,
                          logging.getLogger("test.ec2"), provided(fabric))
    try:
        part.start(context)
        yield Stack(part, world.ec2, Notifier(part, world.ec2), world.subnet, world.database, fabric, state_dir)
    finally:
        part.stop()
        world.terminate_all()
        shutil.rmtree(workdir, ignore_errors=True)


def test_run_instances_with_the_role_starts_a_serving_checkout(stack: Stack) -> None:
    iid = stack.run(stack.user_data())
    status = stack.part.instance(iid)
    assert status is not None and status["state"] == "running" and alive(status["pid"])
    assert ipaddress.IPv4Address(status["private_ip"]) in ipaddress.IPv4Network(stack.subnet_cidr)
    described = stack.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert status["private_ip"] == described["PrivateIpAddress"]
    assert status["availability_zone"] == "us-east-1a" and status["port"] == 8080

    health = unixhttp.call(status["socket"], "GET", "/health")
    assert health.status == 200 and health.headers["x-instance-id"] == iid
    assert health.headers["x-availability-zone"] == "us-east-1a"
    order = unixhttp.call(status["socket"], "POST", "/orders", {"sku": "SC-MUG-002", "quantity": 1})
    assert order.status == 201, order.body
    row = stack.database.query("SELECT instance_id, availability_zone FROM orders WHERE order_id = :id",
                               id=uuid.UUID(order.body["order_id"]))
    assert row == [[iid, "us-east-1a"]]
    clients = stack.database.query("SELECT DISTINCT host(client_addr) FROM pg_stat_activity "
                                   "WHERE application_name = :a", a=f"checkout-{iid}")
    assert clients == [[status["private_ip"]]]

    assert ("expose", status["private_ip"], 8080, f"unix:{status['socket']}") in stack.fabric.calls
    assert ("register_process", status["private_ip"], status["pid"]) in stack.fabric.calls
    # The password reaches the process through a file, never its command line.
    assert postgres.PASSWORD.encode() not in Path(f"/proc/{status['pid']}/cmdline").read_bytes()


def test_untagged_instances_are_not_checkout(stack: Stack) -> None:
    iid = stack.run(stack.user_data(), tagged=False)
    assert stack.part.instance(iid) is None
    assert stack.state(iid) == "running"


def test_stop_then_start_instances_stops_and_restarts_the_process(stack: Stack) -> None:
    iid = stack.run(stack.user_data())
    before = stack.part.instance(iid)
    assert before is not None

    stack.call("StopInstances", InstanceIds=[iid])
    stopped = stack.part.instance(iid)
    assert stopped is not None and stopped["state"] == "stopped" and stopped["pid"] is None
    assert not alive(before["pid"])
    with pytest.raises(OSError):  # the socket is gone: nothing serves this instance
        unixhttp.call(before["socket"], "GET", "/health")
    assert ("unexpose", before["private_ip"], 8080) in stack.fabric.calls and not stack.fabric.exposed
    assert stack.state(iid) == "stopped"

    stack.call("StartInstances", InstanceIds=[iid])
    after = stack.part.instance(iid)
    assert after is not None and after["state"] == "running" and after["pid"] != before["pid"]
    assert after["private_ip"] == before["private_ip"]  # EC2 keeps the private address across stop/start
    assert unixhttp.call(after["socket"], "GET", "/health").status == 200
    assert stack.fabric.exposed == {(after["private_ip"], 8080): f"unix:{after['socket']}"}


def test_reboot_restarts_the_process(stack: Stack) -> None:
    iid = stack.run(stack.user_data())
    before = stack.part.instance(iid)
    stack.call("RebootInstances", InstanceIds=[iid])
    after = stack.part.instance(iid)
    assert before and after and after["pid"] != before["pid"] and not alive(before["pid"])
    assert after["state"] == "running" and unixhttp.call(after["socket"], "GET", "/health").status == 200


def test_terminate_removes_the_process_and_its_files(stack: Stack) -> None:
    iid = stack.run(stack.user_data())
    status = stack.part.instance(iid)
    assert status is not None
    directory = stack.state_dir / "ec2"
    assert (directory / f"{iid}.pw").exists()

    stack.call("TerminateInstances", InstanceIds=[iid])
    assert stack.part.instance(iid) is None
    assert not alive(status["pid"])
    assert not Path(status["socket"]).exists() and not (directory / f"{iid}.pw").exists()
    assert iid not in (directory / "processes.json").read_text()
    assert stack.state(iid) == "terminated"


def test_a_crashed_process_is_restarted_and_a_crash_loop_stops_the_instance(stack: Stack) -> None:
    iid = stack.run(stack.user_data())
    first = stack.part.instance(iid)
    assert first is not None
    os.kill(first["pid"], signal.SIGKILL)
    second = wait_for(lambda: (s := stack.part.instance(iid)) and s["state"] == "running" and s["pid"] not in (None, first["pid"])
                      and s, "the crashed checkout to be restarted")
    assert second["restarts"] == 1 and unixhttp.call(second["socket"], "GET", "/health").status == 200
    assert stack.state(iid) == "running"

    os.kill(second["pid"], signal.SIGKILL)  # restart_limit=1: the second crash stops the instance
    wait_for(lambda: stack.state(iid) == "stopped", "EC2 to show the crash-looping instance as stopped")
    stack.part.settle(30)
    final = stack.part.instance(iid)
    assert final is not None and final["state"] in ("failed", "stopped") and final["pid"] is None
    assert "2 times" in final["error"]


@pytest.mark.parametrize(("user_data", "reason"), [
    ("not json at all", "not valid JSON"),
    ({"db_instance_identifier": "orders", "db_region": REGION}, "no credentials"),
    ({"db_instance_identifier": "missing", "db_region": REGION, "db_user": "u", "db_password": "p"}, "does not exist"),
    ({"db_password_typo": "x"}, "unknown"),
])
def test_bad_user_data_stops_the_instance_with_the_reason(stack: Stack, user_data: Any, reason: str) -> None:
    iid = stack.run(user_data)
    assert stack.part.instance(iid) is None
    assert stack.state(iid) == "stopped"
    assert iid in stack.part.status()["last_error"] and reason in stack.part.status()["last_error"]


def test_without_database_in_user_data_the_service_runs_and_orders_are_503(stack: Stack) -> None:
    iid = stack.run()
    status = stack.part.instance(iid)
    assert status is not None and status["database_endpoint"] is None
    reply = unixhttp.call(status["socket"], "POST", "/orders", {"sku": "SC-MUG-002", "quantity": 1})
    assert reply.status == 503 and reply.body["error"] == "database_unavailable"


def test_stop_kills_every_process_and_removes_the_files(stack: Stack) -> None:
    pids = []
    for _ in range(2):
        status = stack.part.instance(stack.run(stack.user_data()))
        assert status is not None
        pids.append(status["pid"])
    pids.append(stack.part.status()["zygote"]["pid"])
    stack.part.stop()
    stack.part.stop()  # twice is safe
    assert not any(alive(pid) for pid in pids)
    assert not (stack.state_dir / "ec2").exists()


def test_a_killed_zygote_is_started_again_and_its_instances_restart(stack: Stack) -> None:
    iid = stack.run(stack.user_data())
    first = stack.part.instance(iid)
    zygote = stack.part.status()["zygote"]["pid"]
    assert first is not None and alive(zygote)
    os.kill(zygote, signal.SIGKILL)
    again = wait_for(lambda: (s := stack.part.instance(iid)) and s["state"] == "running" and s["pid"] not in (None, first["pid"])
                     and s, "the instance to be restarted from a new zygote")
    assert not alive(first["pid"]), "an instance does not outlive its zygote"
    restarted = stack.part.status()["zygote"]["pid"]
    assert restarted not in (None, zygote)
    # The crash registry names the new zygote, so a killed supervisor's zygote is found at the next start.
    entries = json.loads((stack.state_dir / "ec2" / "processes.json").read_text())
    assert [e["pid"] for e in entries if e["instance_id"] == "zygote"] == [restarted]
    assert again["restarts"] == 1 and unixhttp.call(again["socket"], "GET", "/health").status == 200


def test_an_instance_the_zygote_cannot_fork_is_stopped_with_the_reason(stack: Stack,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise CheckoutStartError("the checkout zygote (pid 1) refused to fork an instance: out of memory")

    monkeypatch.setattr(Zygote, "spawn", refuse)
    iid = stack.run(stack.user_data())
    status = stack.part.instance(iid)
    assert status is not None and status["state"] == "failed" and status["pid"] is None
    assert "refused to fork" in status["error"] and stack.state(iid) == "stopped"
    assert stack.part.health().state == "degraded" and "refused to fork" in " ".join(stack.part.health().reasons)


def test_an_instance_the_fabric_cannot_expose_is_stopped(stack: Stack) -> None:
    stack.fabric.refuse = "expose: cannot listen: Address already in use"
    iid = stack.run(stack.user_data())
    status = stack.part.instance(iid)
    assert status is not None and status["pid"] is None and "Address already in use" in status["error"]
    assert stack.state(iid) == "stopped"


def test_through_the_real_fabric_the_checkout_answers_on_its_private_address(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole path: RunInstances -> process -> fabric listener on private_ip:8080 -> Unix socket."""
    fabric_part = pytest.importorskip("stack.local.fabric.part", reason="the fabric part is not in this tree")
    workdir = Path(tempfile.mkdtemp(prefix="gd-ec2-fab-"))
    monkeypatch.setenv("XDG_STATE_HOME", str(workdir / "logs"))
    context = PartContext(Instance(0, world.environment), world.environment, workdir / "state",
                          logging.getLogger("test.ec2"))
    (workdir / "state").mkdir()
    fabric = fabric_part.FabricPart()
    part = Ec2Part()
    try:
        fabric.start(context)
        context.services.provide(Network, fabric, by="part fabric")
        fabric.wait_synced()
        part.start(context)
        notify = Notifier(part, world.ec2)
        iid = notify("RunInstances", ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=world.subnet["SubnetId"],
                     TagSpecifications=ROLE)["Instances"][0]["InstanceId"]
        status = part.instance(iid)
        assert status is not None and status["state"] == "running"
        url = f"http://{status['private_ip']}:8080/health"
        reply = requests.get(url, timeout=5)
        assert reply.status_code == 200 and reply.headers["x-instance-id"] == iid

        notify("StopInstances", InstanceIds=[iid])
        with pytest.raises(requests.RequestException):
            requests.get(url, timeout=2)
    finally:
        part.stop()
        fabric.stop()
        world.terminate_all()
        shutil.rmtree(workdir, ignore_errors=True)


def test_an_instance_outside_loopback_is_refused_and_stopped(stack: Stack) -> None:
    # No SubnetId: moto puts it in the default VPC (172.31.0.0/16), which the network rule forbids binding.
    iid = stack.call("RunInstances", ImageId=AMI, MinCount=1, MaxCount=1,
                     TagSpecifications=ROLE)["Instances"][0]["InstanceId"]
    assert stack.part.instance(iid) is None
    assert stack.state(iid) == "stopped"
    assert "outside 127.0.0.0/8" in stack.part.status()["last_error"]
    health = stack.part.health()  # it was stopped, not silently dropped: the stack says why until it is gone
    assert health.state == "degraded" and len(health.reasons) == 1
    assert iid in health.reasons[0] and "outside 127.0.0.0/8" in health.reasons[0]
    stack.call("TerminateInstances", InstanceIds=[iid])
    assert stack.part.health().healthy
