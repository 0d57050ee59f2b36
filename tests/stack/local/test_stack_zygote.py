"""The stack's zygote in a running stack: the fabric, the warehouse and the store services forked by it, each a
process of its own, reported when it dies, gone with the stack."""
from __future__ import annotations

import http.client
import os
import signal
import socket
from pathlib import Path
from typing import Iterator

import pytest

from base.deadline import holds_within, until
from environments import loader
from stack.local import supervisor
from stack.local.instance import Instance

NUMBER = 6  # no other test uses it (benchmarks/bench_experiments.py does: benchmarks are not run beside the tests)
SERVICES = {"ledger", "pos-store-nyc", "pos-store-philly"}
PARTS = "fabric,warehouse,stores"


@pytest.fixture(scope="module")
def stack() -> Iterator[Instance]:
    instance = Instance(NUMBER, loader.load("local"))  # type: ignore[arg-type]
    supervisor.stop(instance)
    try:
        supervisor.start_detached("local", instance, timeout_s=90, parts=PARTS)
        yield instance
    finally:
        supervisor.stop(instance)


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stack_zygote(instance: Instance) -> int:
    pid = supervisor.running_pid(instance)
    assert pid is not None
    socket_path = str(instance.state_dir / supervisor.ZYGOTE_SOCKET)
    found = [child for child in children(pid) if "stack.local.zygote" in command_line(child)
             and socket_path in command_line(child)]
    assert len(found) == 1, [command_line(child) for child in children(pid)]
    return found[0]


def health(uds: Path) -> int:
    connection = http.client.HTTPConnection("localhost", timeout=2)
    connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.sock.settimeout(2)
    try:
        connection.sock.connect(str(uds))
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def stores_problems(instance: Instance) -> list[str]:
    return list(supervisor.live_status(instance.aws_endpoint)["parts"]["stores"]["health"]["reasons"])


def log_of(pid: int) -> str:
    """The log a forked service writes its output to (the zygote points its stdout there)."""
    try:
        return os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return ""


def test_each_child_is_a_process_of_its_own_forked_by_the_stacks_zygote(stack: Instance) -> None:
    zygote = stack_zygote(stack)
    forked = children(zygote)
    assert sorted(Path(log_of(pid)).stem for pid in forked) == sorted([*SERVICES, "warehouse", "fabric"])
    sockets = {path.stem: path for path in (stack.state_dir / "stores").glob("*.sock") if path.stem != "zygote"}
    assert set(sockets) == SERVICES
    assert all(health(path) == 200 for path in sockets.values())

    # Killing one service leaves the others serving, and the part says which one died.
    assert stores_problems(stack) == []
    assert supervisor.live_status(stack.aws_endpoint)["parts"]["warehouse"]["running"] is True
    victim = next(pid for pid in forked if log_of(pid).endswith("/pos-store-nyc.log"))
    os.kill(victim, signal.SIGKILL)
    problems = until(lambda: stores_problems(stack), 10, "the part to report the killed service")
    assert len(problems) == 1 and problems[0].startswith("pos-store-nyc on "), problems
    assert problems[0].endswith("exited with code -9"), problems
    assert health(sockets["ledger"]) == 200 and health(sockets["pos-store-philly"]) == 200
    assert stack_zygote(stack) == zygote and len(children(zygote)) == len(SERVICES) + 1  # the fabric and the warehouse
    assert supervisor.live_status(stack.aws_endpoint)["parts"]["warehouse"]["health"]["state"] == "healthy"

    # The fabric forked too is watched by its part: its death is reported, not silent.
    os.kill(next(pid for pid in forked if log_of(pid).endswith("/fabric.log")), signal.SIGKILL)

    def fabric_problems() -> list[str]:
        return list(supervisor.live_status(stack.aws_endpoint)["parts"]["fabric"]["health"]["reasons"])

    assert until(fabric_problems, 10, "the part to report the killed fabric") == [
        "the fabric process is not running: no NACL is enforced"]


def test_nothing_forked_outlives_the_stack() -> None:
    instance = Instance(NUMBER, loader.load("local"))  # type: ignore[arg-type]
    supervisor.stop(instance)
    supervisor.start_detached("local", instance, timeout_s=90, parts=PARTS)
    try:
        zygote = stack_zygote(instance)
        forked = children(zygote)
    finally:
        supervisor.stop(instance)
    assert len(forked) == len(SERVICES) + 2
    assert holds_within(lambda: not any(Path(f"/proc/{pid}").exists() for pid in [zygote, *forked]), 2)
