"""The local stack's process executor: start a child with its log, stop-then-kill, and a log's tail.

Every part runs children (the fabric, checkout processes, PostgreSQL servers) and the CLI runs the
supervisor; all of them are stopped the same way: a polite signal, a bounded wait, SIGKILL, and
(for our own children) a reap, so no zombie and no orphan outlives a stop.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

from base.deadline import holds_within
from base.logfiles import open_log

REAP_S = 5.0  # a SIGKILLed process is gone within this, unless stuck in the kernel
REPO_ROOT = Path(__file__).resolve().parents[2]


def child_environment() -> dict[str, str]:
    """This process's environment (the stack's marker with it), with the repository importable from anywhere:
    what the stack's Python children run with."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))


def start(argv: Sequence[str], log: Path, *, append: bool = True, stdout: bool = True,
          **options: Any) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdin closed and its stderr (and stdout unless ``stdout`` is False) in ``log``.

    The log is private (base.logfiles): a crash trace can quote its configuration. ``options`` go to Popen.
    """
    with open_log(log, append=append) as out:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out if stdout else subprocess.DEVNULL,
                                stderr=subprocess.STDOUT if stdout else out, **options)


class Child(Protocol):
    """What stop() and wait() need of a child: a Popen, or another handle with the same calls
    (stack.local.zygote.client.ForkedChild, a child forked by a part's zygote)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


def stop(process: Child, grace_s: float, sig: int = signal.SIGTERM,
         ask: Callable[[], None] | None = None, reap_s: float | None = REAP_S) -> int | None:
    """Stop our child: ``ask()`` (or send ``sig``), wait ``grace_s``, then SIGKILL and reap it.

    ``ask`` is a polite request over the child's own channel; when it raises, ``sig`` is sent instead.
    ``reap_s`` None waits for the reap without bound. Returns the exit code (None if it would not die).
    """
    if process.poll() is None:
        asked = False
        if ask is not None:
            try:
                ask()
                asked = True
            except Exception:  # noqa: BLE001 - whatever the channel's trouble, the signal still works
                pass
        if not asked:
            process.send_signal(sig)  # a no-op once it has exited (never a signal to a recycled pid)
        try:
            wait(process, grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                wait(process, reap_s)
            except subprocess.TimeoutExpired:
                return None
    return process.returncode


def wait(process: Child, timeout_s: float | None) -> int:
    """``process.wait(timeout_s)``, returning the moment the child exits.

    Popen.wait with a timeout sleeps between polls, up to 50 ms at a time: a PostgreSQL that stops in 80 ms
    was seen gone after 120-180, which a failover at a small time_scale cannot hide in RDS's shutdown phase.
    A pidfd (Linux 5.3+) becomes readable when the child exits.
    """
    if timeout_s is None or process.returncode is not None or not isinstance(process, subprocess.Popen):
        return process.wait(timeout_s)  # a Child of another kind waits as promptly by itself
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError:  # no pidfd here, or the child is already gone and reaped
        return process.wait(timeout_s)
    try:
        waiter = select.poll()  # not select(): a busy supervisor's descriptors can number past FD_SETSIZE
        waiter.register(pidfd, select.POLLIN)
        waiter.poll(max(0.0, timeout_s) * 1000)
    finally:
        os.close(pidfd)
    return process.wait(0)  # reaps it, or raises TimeoutExpired if it is still running


@dataclass(frozen=True)
class Stopped:
    """What ``stop_pids`` did: the pids the first signal reached, and those that needed SIGKILL."""

    signalled: tuple[int, ...]
    killed: tuple[int, ...]


def stop_pids(targets: Iterable[int], remaining: Callable[[], Iterable[int]], grace_s: float,
              sig: int = signal.SIGTERM, interval_s: float = 0.05) -> Stopped:
    """Stop processes that are not our children: ``sig`` to ``targets``, wait until ``remaining()``
    is empty for ``grace_s``, then SIGKILL whatever it still lists. ``remaining`` finds them afresh
    (by marker, data directory or start time), so a recycled pid is never killed."""
    signalled = []
    for pid in targets:
        try:
            os.kill(pid, sig)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    if holds_within(lambda: not list(remaining()), grace_s, interval_s):
        return Stopped(tuple(signalled), ())
    killed = []
    for pid in remaining():
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return Stopped(tuple(signalled), tuple(killed))


def tail(path: Path, lines: int = 20, missing: str = "(no log)") -> str:
    """The last ``lines`` lines of a log, for an error message; ``missing`` when it cannot be read."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return missing
