"""A part's side of its zygote (stack.local.zygote.server): start it, and fork children from it, each
handled like a subprocess.

``Zygote.spawn`` returns a ``ForkedChild``: the child's pid, a pidfd to signal it by (never a
recycled pid), and the connection on which the zygote reports its exit code. It answers the calls the
process executor makes of a Popen (``poll``, ``wait``, ``send_signal``, ``kill``, ``returncode``), so a
child is stopped, awaited and reaped as any child is. If the zygote dies, it is started again at the next
spawn (and says so in the log); the children it had forked leave with it, and each one's exit is then
reported as ``LOST``. A child whose connection is closed before its exit (a spawn that failed half-way) is
killed by the zygote: nothing could stop it any more.
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from base.deadline import DeadlineExceeded, until
from base.errors import StackError
from stack.local import process as executor

LOST = -255  # the exit code of a child whose zygote died before it could report one
READY_POLL_S = 0.02


def shared_or_own(shared: Zygote | None, directory: Path, log_dir: Path, name: str,
                  logger: logging.Logger) -> tuple[Zygote, Zygote | None]:
    """The zygote a part forks its children from: the stack's (``shared``, from the part's context), else one of
    the part's own in ``directory`` (a part started outside a supervisor). Returns (the one to fork from, the
    part's own to stop after its children, or None)."""
    if shared is not None:
        return shared, None
    own = Zygote(directory / "zygote.sock", log_dir / "zygote.log", executor.REPO_ROOT, executor.child_environment(),
                 name=name, logger=logger)
    return own, own


class ForkError(StackError):
    """A zygote did not start, or did not fork a child."""


class ForkedChild:
    """One child forked by a zygote, with Popen's calls."""

    def __init__(self, pid: int, pidfd: int, conn: socket.socket, received: bytes = b"") -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd: int | None = pidfd
        self._conn: socket.socket | None = conn
        self._buffer = received
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        return self._settle(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._settle(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"forked child pid {self.pid}", timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        with self._lock:
            if self.returncode is None and self._pidfd is not None:
                try:
                    signal.pidfd_send_signal(self._pidfd, sig)
                except ProcessLookupError:  # exited; the zygote's report is on its way
                    pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _settle(self, timeout: float | None) -> int | None:
        """The exit code once the zygote has reported it, waiting up to ``timeout`` (None: without bound)."""
        if timeout == 0 and not self._lock.acquire(blocking=False):
            # Another thread is waiting for the report (a stop): a poll does not queue behind it.
            return self.returncode
        elif timeout != 0:
            self._lock.acquire()
        try:
            return self._settle_locked(timeout)
        finally:
            self._lock.release()

    def _settle_locked(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        assert self._conn is not None and self._pidfd is not None
        wait_ms = None if timeout is None else max(0.0, timeout) * 1000
        report = select.poll()
        report.register(self._conn.fileno(), select.POLLIN)
        while not self._buffer.endswith(b"\n"):
            if not report.poll(wait_ms):
                return None
            chunk = self._conn.recv(4096)
            if not chunk:  # the zygote closed the connection without a report: it died
                # The kernel kills the child with it (PR_SET_PDEATHSIG); wait until it is gone.
                exit_ = select.poll()
                exit_.register(self._pidfd, select.POLLIN)
                if not exit_.poll(wait_ms):
                    return None
                self._close(LOST)
                return self.returncode
            self._buffer += chunk
        self._close(int(json.loads(self._buffer)["exit"]))
        return self.returncode

    def _close(self, code: int) -> None:
        self.returncode = code
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class Zygote:
    """A zygote process, which forks ``main`` (MODULE:FUNCTION), or the one a spawn names, with each spawn's
    args: started on the first spawn, and again if it has died. ``name`` names it in logs and errors
    ("the checkout zygote")."""

    def __init__(self, socket_path: Path, log: Path, cwd: Path, env: Mapping[str, str], main: str | None = None,
                 preload: Sequence[str] = (), name: str = "zygote", logger: logging.Logger | None = None,
                 ready_timeout_s: float = 30.0, started: Callable[[int], None] | None = None) -> None:
        """``preload``: modules imported beside ``main``'s before the first fork (see server.py).
        ``started(pid)`` is called each time a zygote process is started (the first, and any restart)."""
        self.socket_path = socket_path
        self.log = log
        self.cwd = cwd
        self.env = dict(env)
        self.main = main
        self.preload = tuple(preload)
        self.name = name
        self.logger = logger or logging.getLogger("gameday.zygote")
        self.ready_timeout_s = ready_timeout_s
        self.started = started
        self._popen: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def spawn(self, args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path,
              main: str | None = None) -> ForkedChild:
        """Fork a child running ``main(args)`` (the zygote's own main when None) with ``env`` in ``cwd``, its
        output in ``log``."""
        if (main or self.main) is None:
            raise ValueError(f"the {self.name} has no main of its own: name the child's main (MODULE:FUNCTION)")
        with self._lock:
            self._ensure_running()
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.settimeout(self.ready_timeout_s)
                conn.connect(str(self.socket_path))
                request = {"args": list(args), "env": dict(env), "cwd": str(cwd), "log": str(log), "main": main}
                conn.sendall(json.dumps(request).encode() + b"\n")
                message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            except OSError as error:
                conn.close()
                raise ForkError(f"the {self.name} (pid {self.pid}) did not fork a child: {error}; "
                                         f"log {self.log}:\n{executor.tail(self.log)}") from None
            line, newline, rest = message.partition(b"\n")  # rest: the exit report, if it came as quickly
            try:
                reply = json.loads(line) if newline else {"error": f"reply {message!r}"}
            except ValueError:
                reply = {"error": f"reply {message!r}"}
            if not isinstance(reply, dict) or "pid" not in reply or len(fds) != 1:
                # Closing the connection makes the zygote kill a child it forked for this request.
                for fd in fds:
                    os.close(fd)
                conn.close()
                why = reply.get("error", reply) if isinstance(reply, dict) else reply
                raise ForkError(f"the {self.name} (pid {self.pid}) refused to fork a child: {why}")
            conn.settimeout(None)
            return ForkedChild(int(reply["pid"]), fds[0], conn, rest)

    def _ensure_running(self) -> None:
        if self.alive():
            return
        if self._popen is not None:
            self.logger.error("the %s (pid %d) exited with code %s; starting it again; log %s:\n%s",
                              self.name, self._popen.pid, self._popen.returncode, self.log, executor.tail(self.log))
        self.socket_path.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "stack.local.zygote", "--socket", str(self.socket_path),
                *(("--main", self.main) if self.main else ()),
                *(arg for module in self.preload for arg in ("--preload", module)), "--exit-with-parent"]
        self._popen = executor.start(argv, self.log, cwd=self.cwd, env=self.env)

        def accepting() -> bool:
            if self._popen is not None and self._popen.poll() is not None:
                raise ForkError(f"the {self.name} exited with code {self._popen.returncode} while "
                                         f"starting; log {self.log}:\n{executor.tail(self.log)}")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
            finally:
                probe.close()
            return True

        try:
            until(accepting, self.ready_timeout_s, interval_s=READY_POLL_S)
        except DeadlineExceeded:
            self.stop()
            raise ForkError(f"the {self.name} was not accepting on {self.socket_path} within "
                                     f"{self.ready_timeout_s:g} s; log {self.log}:\n{executor.tail(self.log)}") from None
        if self.started is not None:
            self.started(self._popen.pid)

    def stop(self, grace_s: float = 3.0) -> int | None:
        """Stop the zygote (after its children: any still running leave when it does)."""
        with self._lock:
            popen, self._popen = self._popen, None
            code = executor.stop(popen, grace_s, reap_s=grace_s) if popen is not None else None
            self.socket_path.unlink(missing_ok=True)
            return code

    def describe(self) -> dict[str, Any]:
        return {"pid": self.pid if self.alive() else None, "socket": str(self.socket_path)}
