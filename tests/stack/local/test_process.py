"""The process executor: a child's private log, stop-then-kill with a reap, stop by re-found pids, a log's tail.

Every child here is a short Python script; none depends on the machine's speed: a child that ignores
SIGTERM is SIGKILLed whatever the grace, and one that obeys exits whatever the (long) grace.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from base.deadline import until
from stack.local import process as executor

OBEYS = "import time; print('ready', flush=True); time.sleep(120)"
# SIGINT's default action set by the child itself: a shell starts background jobs with SIGINT ignored, and
# Python keeps an inherited SIG_IGN, so under `make test &` a plain child would outlive the request.
OBEYS_SIGINT = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); print('ready', flush=True); time.sleep(120)"
IGNORES_SIGTERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                   "time.sleep(120)")


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:  # even when a test failed half-way
        if child.poll() is None:
            child.kill()
            child.wait(10)


def _start(children: list[subprocess.Popen[bytes]], script: str, log: Path) -> subprocess.Popen[bytes]:
    child = executor.start([sys.executable, "-c", script], log)
    children.append(child)
    until(lambda: "ready" in log.read_text(), 30, f"{log.name} to say ready")
    return child


def test_start_writes_the_childs_output_to_a_private_log(tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    log = tmp_path / "child.log"
    log.write_text("an earlier run\n")
    log.chmod(0o644)
    child = _start(children, "import sys; print('ready', flush=True); print('oops', file=sys.stderr)", log)
    assert child.wait(30) == 0
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.read_text().splitlines() == ["an earlier run", "ready", "oops"]
    stderr_only = tmp_path / "stderr.log"
    quiet = executor.start([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
                           stderr_only, append=False, stdout=False)
    children.append(quiet)
    assert quiet.wait(30) == 0
    assert stderr_only.read_text() == "err\n"


def test_wait_returns_the_exit_code_and_reaps(tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, "import sys; print('ready', flush=True); sys.stdin.close(); sys.exit(3)", tmp_path / "c.log")
    assert executor.wait(child, 60) == 3
    assert executor.wait(child, 60) == 3  # already reaped: the same answer
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_wait_times_out_on_a_running_child_and_leaves_it_running(tmp_path: Path,
                                                                 children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, OBEYS, tmp_path / "runs.log")
    with pytest.raises(subprocess.TimeoutExpired):
        executor.wait(child, 0.05)
    assert child.poll() is None
    child.terminate()
    assert executor.wait(child, None) == -signal.SIGTERM


def test_stop_asks_with_sigterm_first(tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, OBEYS, tmp_path / "obeys.log")
    assert executor.stop(child, grace_s=60) == -signal.SIGTERM
    assert executor.stop(child, grace_s=60) == -signal.SIGTERM  # a second stop is harmless


def test_stop_kills_and_reaps_a_child_that_ignores_the_signal(tmp_path: Path,
                                                              children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, IGNORES_SIGTERM, tmp_path / "stubborn.log")
    assert executor.stop(child, grace_s=0.2) == -signal.SIGKILL
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)  # reaped: no zombie left


def test_stop_uses_the_polite_request_and_falls_back_to_the_signal(tmp_path: Path,
                                                                   children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, OBEYS_SIGINT, tmp_path / "asked.log")

    def ask() -> None:  # the child's own channel; SIGINT stands in for a shutdown command
        os.kill(child.pid, signal.SIGINT)

    assert executor.stop(child, grace_s=60, ask=ask) == -signal.SIGINT  # the request, not SIGTERM, ended it

    def broken() -> None:
        raise ConnectionRefusedError("the control socket is gone")

    other = _start(children, OBEYS, tmp_path / "broken.log")
    assert executor.stop(other, grace_s=60, ask=broken) == -signal.SIGTERM


def _remaining(child: subprocess.Popen[bytes]) -> list[int]:
    """How a caller finds the processes again; poll() reaps ours (a zombie would count as alive)."""
    return [child.pid] if child.poll() is None else []


def test_stop_pids_waits_for_what_obeys(tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, OBEYS, tmp_path / "a.log")
    stopped = executor.stop_pids([child.pid], lambda: _remaining(child), grace_s=60, interval_s=0.01)
    assert stopped == executor.Stopped(signalled=(child.pid,), killed=())
    assert child.returncode == -signal.SIGTERM


def test_stop_pids_kills_what_is_still_found_after_the_grace(tmp_path: Path,
                                                             children: list[subprocess.Popen[bytes]]) -> None:
    child = _start(children, IGNORES_SIGTERM, tmp_path / "b.log")
    stopped = executor.stop_pids([child.pid], lambda: _remaining(child), grace_s=0.2, sig=signal.SIGTERM)
    assert stopped == executor.Stopped(signalled=(child.pid,), killed=(child.pid,))
    assert child.wait(10) == -signal.SIGKILL


def test_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(50)) + b"\xff bad byte\n")
    assert executor.tail(log, lines=3) == "line 48\nline 49\n\ufffd bad byte"
    assert executor.tail(tmp_path / "missing.log") == "(no log)"
    assert executor.tail(tmp_path / "missing.log", missing="(no output)") == "(no output)"
