"""The local stack's lifecycle, run the way a user runs it: the `gameday` command."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from environments import loader
from stack.local import supervisor
from stack.local.instance import Instance
from tests.conftest import SPARE_INSTANCE, lifecycle_instance

# Instance 7 (serial, gw0) or 8 (gw1), and 9 for a second stack; the plugin's session stacks use 1 and 2.
NUMBER = lifecycle_instance()
STATUS_KEYS = {"aws_endpoint", "dns", "regions", "vantage_points", "state_dir", "logs"}


def gameday(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GAMEDAY_INSTANCE=str(NUMBER))
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@pytest.fixture
def instance() -> Iterator[Instance]:
    number = Instance(NUMBER, loader.load("local"))  # type: ignore[arg-type]
    supervisor.stop(number)
    try:
        yield number
    finally:
        supervisor.stop(number)


def test_up_status_down(instance: Instance) -> None:
    up = gameday("stack", "up", "--detach")
    assert up.returncode == 0, up.stderr
    status = gameday("stack", "status", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert STATUS_KEYS <= set(state)
    assert state["aws_endpoint"] == f"http://127.0.{NUMBER}.1:4566"
    assert state["dns"]["host"] == f"127.0.{NUMBER}.1" and isinstance(state["dns"]["port"], int)
    assert state["regions"] == ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"]
    assert state["vantage_points"]["frankfurt"] == {"subnet": f"127.{200 + NUMBER}.3.0/24", "continent": "EU",
                                                    "country": "DE", "subdivision": "HE"}
    assert Path(state["state_dir"]).is_dir()
    assert listening(f"127.0.{NUMBER}.1", 4566)
    human = gameday("stack", "status")
    assert "AWS endpoint" in human.stdout and "frankfurt" in human.stdout

    down = gameday("stack", "down")
    assert down.returncode == 0 and "stopped the local stack" in down.stdout
    assert not listening(f"127.0.{NUMBER}.1", 4566)
    assert not Path(state["state_dir"]).exists()
    assert gameday("stack", "status").returncode == 3  # base.exitcodes.UNREACHABLE: no stack to answer
    assert "no local stack is running" in gameday("stack", "status").stderr


def test_a_supervisor_that_ignores_the_stop_signal_is_killed_loudly(instance: Instance) -> None:
    """Frozen (SIGSTOP), it cannot handle SIGTERM: `stop()` kills it after its grace, says so in a warning and
    in the stack's own log, and still cleans up."""
    assert gameday("stack", "up", "--detach", "--parts", "none").returncode == 0
    pid = supervisor.running_pid(instance)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    with pytest.warns(RuntimeWarning, match=f"instance {NUMBER}: supervisor {pid} did not stop within 1 s"):
        notes = supervisor.stop(instance, timeout_s=1)
    assert notes[0] == f"supervisor {pid} did not stop within 1 s of SIGTERM and was killed", notes
    assert "was killed (by `stop`)" in (instance.log_dir / "supervisor.log").read_text().splitlines()[-1]
    assert supervisor.running_pid(instance) is None and not listening(f"127.0.{NUMBER}.1", 4566)


def test_second_up_is_refused_while_running(instance: Instance) -> None:
    assert gameday("stack", "up", "--detach").returncode == 0
    again = gameday("stack", "up", "--detach")
    assert again.returncode == 2 and "already running" in again.stderr


def test_crash_leftovers_are_cleaned_by_the_next_up(instance: Instance) -> None:
    assert gameday("stack", "up", "--detach").returncode == 0
    state = supervisor.read_state(instance)
    assert state is not None
    # A child that left the supervisor's session, as PostgreSQL's postmaster does, carrying the marker.
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True,
                              env=dict(os.environ, **{supervisor.MARKER_VARIABLE: supervisor.marker(instance)}))
    try:
        os.kill(state["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while supervisor.pid_alive(state["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gameday("stack", "up", "--detach").returncode == 0
        assert orphan.wait(timeout=10) is not None, "the next `up` must stop what the killed one left"
        log = (instance.log_dir / "supervisor.log").read_text()
        assert f"stopped leftover process {orphan.pid}" in log
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_down_after_a_crash_cleans_up(instance: Instance) -> None:
    assert gameday("stack", "up", "--detach").returncode == 0
    state = supervisor.read_state(instance)
    assert state is not None
    os.kill(state["pid"], signal.SIGKILL)
    down = gameday("stack", "down")
    assert down.returncode == 0
    assert not instance.state_dir.exists()


def test_two_instances_side_by_side(instance: Instance) -> None:
    other = Instance(SPARE_INSTANCE, instance.environment)
    supervisor.stop(other)
    try:
        assert gameday("stack", "up", "--detach").returncode == 0
        supervisor.start_detached("local", other)
        assert listening(instance.control_host, 4566) and listening(other.control_host, 4566)
        assert instance.state_dir != other.state_dir
        assert instance.resolved().regions["us-east-1"].vpc_cidr != other.resolved().regions["us-east-1"].vpc_cidr
    finally:
        supervisor.stop(other)


def test_down_when_nothing_runs(instance: Instance) -> None:
    down = gameday("stack", "down")
    assert down.returncode == 0 and "no local stack was running" in down.stdout


def test_bad_instance_is_a_clear_error() -> None:
    result = subprocess.run([sys.executable, "-m", "gameday.cli", "stack", "status"], capture_output=True, text=True,
                            env=dict(os.environ, GAMEDAY_INSTANCE="12"), timeout=60)
    assert result.returncode == 2
    assert "GAMEDAY_INSTANCE: '12' is not allowed; use an integer from 0 to 9" in result.stderr
    assert "Traceback" not in result.stderr


STOP_SIGNALLED_TO_ANOTHER_THREAD = """
import signal, sys, threading
from stack.local import supervisor

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
ready = threading.Event()

def other_thread():
    ready.set()
    threading.Event().wait(30)  # a part's thread, sleeping

worker = threading.Thread(target=other_thread, daemon=True)
worker.start()
ready.wait()
# What the kernel may do with `kill <supervisor>`: deliver it to a thread other than the main one.
threading.Timer(0.2, lambda: signal.pthread_kill(worker.ident, signal.SIGTERM)).start()
{wait}
print("stopped", flush=True)
"""


@pytest.mark.parametrize("wait, stops, timeout_s", [("supervisor.wait_for_stop(stop)", True, 10),
                                                     ("stop.wait()", False, 3)])
def test_a_stop_signal_delivered_to_another_thread_stops_the_supervisor(wait: str, stops: bool,
                                                                         timeout_s: float) -> None:
    """The supervisor's main thread waits for a stop signal; the kernel may hand the signal to any thread, and
    Python runs its handler only in the main thread. An untimed wait (the second case, shown to hang) never
    wakes to run it."""
    script = STOP_SIGNALLED_TO_ANOTHER_THREAD.format(wait=wait)
    try:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=timeout_s, cwd=Path(__file__).resolve().parents[3])
    except subprocess.TimeoutExpired:
        assert not stops, f"the supervisor did not stop within {timeout_s} s of the signal"
        return
    assert stops and result.stdout == "stopped\n", (result.returncode, result.stdout, result.stderr)
