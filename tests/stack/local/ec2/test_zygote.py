"""Checkout instances forked by the zygote: each its own process, stopped and reaped like a subprocess."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from base.deadline import holds_within
from stack.local import process as executor
from stack.local.ec2 import unixhttp
from stack.local.ec2.process import CheckoutProcess, environment
from stack.local.process import REPO_ROOT
from stack.local.zygote.client import LOST, Zygote
from tests.stack.local.ec2.test_process import gone, launch


def instance(workdir: Path, zygote: Zygote, name: str, instance_id: str) -> CheckoutProcess:
    spec = replace(launch(workdir, instance_id=instance_id), uds=workdir / f"{name}.sock", log=workdir / f"{name}.log")
    return CheckoutProcess(spec, zygote)


def ask(zygote: Zygote, request: dict[str, object]) -> tuple[bytes, list[int]]:
    """One raw request on the zygote's socket, as a client other than Zygote.spawn sends it: the reply line and
    any descriptors that came with it; the connection is closed afterwards."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(zygote.socket_path))
        client.sendall(json.dumps(request).encode() + b"\n")
        message, fds, _, _ = socket.recv_fds(client, 4096, 1)
    finally:
        client.close()
    return message, fds


@contextlib.contextmanager
def the_zygote_serves_on(workdir: Path, zygote: Zygote, name: str, instance_id: str) -> Iterator[None]:
    """Start an instance (which starts the zygote), run the block's raw requests, then check that the instance
    still comes up and the zygote is alive: what the block did failed only its own request."""
    witness = instance(workdir, zygote, name, instance_id)
    witness.start()
    try:
        yield
        witness.wait_ready(20)
        assert zygote.alive()
    finally:
        witness.stop()


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
    with the_zygote_serves_on(workdir, zygote, "g", "i-0000000000000000e"):
        reply, fds = ask(zygote, {"args": "not a list", "env": {}, "cwd": "/", "log": "/dev/null"})
        assert b"'args' must be a list" in reply and not fds


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


def test_a_poll_does_not_queue_behind_a_thread_waiting_for_the_exit(workdir: Path, zygote: Zygote) -> None:
    """The crash monitor polls every instance while the worker may be stopping one (a wait of seconds)."""
    spec = launch(workdir, instance_id="i-00000000000000011")
    child = zygote.spawn(spec.args(), environment(), REPO_ROOT, spec.log)
    waiter = threading.Thread(target=lambda: pytest.raises(subprocess.TimeoutExpired, child.wait, 2.0))
    try:
        waiter.start()
        time.sleep(0.2)  # the waiter holds the report now
        began = time.monotonic()
        assert child.poll() is None
        assert time.monotonic() - began < 0.5
    finally:
        waiter.join()
        executor.stop(child, grace_s=5)
    assert child.poll() is not None


def test_an_instance_whose_connection_closes_before_its_exit_is_killed(workdir: Path, zygote: Zygote) -> None:
    """A spawn that failed after the fork (the reply lost) must not leave an instance nobody can stop."""
    with the_zygote_serves_on(workdir, zygote, "f", "i-00000000000000012"):
        spec = launch(workdir, instance_id="i-00000000000000013")
        message, fds = ask(zygote, {"args": spec.args(), "env": environment(), "cwd": str(REPO_ROOT),
                                    "log": str(spec.log)})
        for fd in fds:
            os.close(fd)
        pid = json.loads(message)["pid"]  # ask() has closed the connection, as a failed spawn would
        assert holds_within(lambda: gone(pid), 5), f"untracked instance {pid} still running"


def test_a_stop_right_after_the_spawn_reports_the_signal(workdir: Path, zygote: Zygote) -> None:
    """SIGTERM before the instance has its own handlers ends it by that signal, not with the zygote's exit 0."""
    spec = launch(workdir, instance_id="i-00000000000000014")
    child = zygote.spawn(spec.args(), environment(), REPO_ROOT, spec.log)
    child.send_signal(signal.SIGTERM)
    assert child.wait(10) == -signal.SIGTERM
