"""Checkout instances forked by the zygote: each its own process, stopped and reaped like a subprocess."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from base.deadline import holds_within
from stack.local import process as executor
from stack.local.ec2 import unixhttp
from stack.local.ec2.errors import CheckoutStartError
from stack.local.ec2.process import REPO_ROOT, CheckoutProcess, environment
from stack.local.ec2.zygote import LOST, Zygote
from tests.stack.local.ec2.test_process import gone, launch


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gd-ec2-zyg-"))  # short: Unix socket paths are limited to 108 bytes
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def zygote(workdir: Path) -> Iterator[Zygote]:
    made = Zygote(workdir / "z.sock", workdir / "z.log", REPO_ROOT, environment())
    try:
        yield made
    finally:
        made.stop()


def instance(workdir: Path, zygote: Zygote, name: str, instance_id: str) -> CheckoutProcess:
    spec = launch(workdir, instance_id=instance_id)
    spec = type(spec)(**{**spec.__dict__, "uds": workdir / f"{name}.sock", "log": workdir / f"{name}.log"})
    return CheckoutProcess(spec, zygote)


def test_killing_one_instance_leaves_the_others_serving(workdir: Path, zygote: Zygote) -> None:
    first = instance(workdir, zygote, "a", "i-0000000000000000a")
    second = instance(workdir, zygote, "b", "i-0000000000000000b")
    try:
        for process in (first, second):
            process.start()
        for process in (first, second):
            process.wait_ready(20)
        assert first.pid != second.pid and zygote.pid not in (first.pid, second.pid)
        first.kill()
        assert first.returncode() == -signal.SIGKILL and gone(first.pid or 0)
        assert unixhttp.call(second.launch.uds, "GET", "/health").status == 200
        # uvicorn drains, then ends by the signal it caught: the code a Popen child reports too.
        assert second.stop() == -signal.SIGTERM
        assert not second.alive() and not second.launch.uds.exists()
        assert zygote.alive()
    finally:
        first.stop()
        second.stop()


def test_an_instance_that_cannot_start_reports_its_exit_and_log(workdir: Path, zygote: Zygote) -> None:
    bad = instance(workdir, zygote, "bad", "not-an-instance-id")
    bad.start()
    try:
        with pytest.raises(CheckoutStartError, match=r"exited with code 2 while starting(.|\n)*not an EC2 instance id"):
            bad.wait_ready(20)
    finally:
        bad.stop()


def test_instances_leave_with_their_zygote_and_the_next_spawn_starts_a_new_one(workdir: Path, zygote: Zygote) -> None:
    orphan = instance(workdir, zygote, "o", "i-0000000000000000c")
    orphan.start()
    try:
        orphan.wait_ready(20)
        old = zygote.pid
        assert old is not None
        subprocess.run(["kill", "-9", str(old)], check=True)
        assert holds_within(lambda: orphan.returncode() is not None, 10), "an instance outlived its zygote"
        assert orphan.returncode() == LOST
        assert gone(orphan.pid or 0)
        again = instance(workdir, zygote, "n", "i-0000000000000000d")
        again.start()
        try:
            again.wait_ready(20)
            assert zygote.pid not in (None, old)
        finally:
            again.stop()
    finally:
        orphan.stop()


def test_a_bad_request_is_refused_and_the_zygote_serves_on(workdir: Path, zygote: Zygote) -> None:
    good = instance(workdir, zygote, "g", "i-0000000000000000e")
    good.start()  # starts the zygote
    try:
        import socket

        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(zygote.socket_path))
        client.sendall(b'{"args": "not a list", "env": {}, "cwd": "/", "log": "/dev/null"}\n')
        reply = client.recv(4096)
        client.close()
        assert b"'args' must be a list" in reply
        good.wait_ready(20)
        assert zygote.alive()
    finally:
        good.stop()


def test_the_zygote_and_its_instances_leave_when_the_parent_dies(workdir: Path) -> None:
    parent = textwrap.dedent(f"""
        from pathlib import Path
        from stack.local.ec2.process import REPO_ROOT, CheckoutProcess, Launch, environment
        from stack.local.ec2.zygote import Zygote
        w = Path({str(workdir)!r})
        zygote = Zygote(w / "p.sock", w / "p.log", REPO_ROOT, environment())
        process = CheckoutProcess(Launch("i-0000000000000000f", "us-east-1", "us-east-1a", "127.0.0.1", w / "c.sock",
                                         w / "c.log", "127.0.0.1", 53), zygote)
        process.start()
        process.wait_ready(20)
        print(zygote.pid, process.pid, flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    pids = [int(p) for p in result.stdout.split()]
    if not holds_within(lambda: all(gone(p) for p in pids), 10):
        subprocess.run(["kill", "-9", *map(str, pids)])
        raise AssertionError(f"zygote and instance {pids} did not exit within 10 s of their parent's death")


def test_the_executor_stops_a_forked_instance_as_a_subprocess(workdir: Path, zygote: Zygote) -> None:
    spec = launch(workdir, instance_id="i-00000000000000010")
    child = zygote.spawn(spec.args(), environment(), REPO_ROOT, spec.log)
    try:
        assert child.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(0.05)
        assert executor.stop(child, grace_s=5) == -signal.SIGTERM
        assert child.poll() == -signal.SIGTERM and child.wait(0) == -signal.SIGTERM
        child.kill()  # a signal after the exit reaches nothing (no recycled pid)
    finally:
        child.kill()
