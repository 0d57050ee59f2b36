"""The checkout zygote: one process per stack that has imported checkout once and forks each instance.

A checkout process is mostly the Python heap of what it imports (uvicorn, Starlette, pg8000,
dnspython, OpenTelemetry, botocore's signer): about 35 MiB, the same in every instance. Forked from a
process that already holds it, an instance shares those pages with the zygote and its siblings
(copy-on-write) instead of building its own copy, and it is serving sooner, with no interpreter start
and no imports.

Protocol, on a Unix socket, one connection per instance: the client sends one JSON line
``{"args": [...], "env": {...}, "cwd": "...", "log": "..."}``; the zygote forks and answers one JSON
line ``{"pid": N}`` with a pidfd of the child attached (SCM_RIGHTS), which the client signals and
polls without any risk of a recycled pid. When the child exits, the zygote reaps it and writes
``{"exit": code}`` (a negative code is the signal that ended it, as with subprocess) on that
connection, then closes it.

Each instance is a process of its own, so stopping or killing one touches no other. The zygote
leaves when its parent (the supervisor) is gone, and the kernel kills each instance when the zygote is
gone (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Sequence

PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_REQUEST = 1 << 20


def preload() -> None:
    """Import everything a serving instance imports, so each child finds it already in memory: the server,
    and what it imports only once running (tracing's exporter and the requests session it makes on its
    first export, metrics' botocore signer, uvicorn's loop and protocol). A module first imported in an
    instance is a private copy in each of them; a test checks that a serving instance imports nothing more."""
    import netrc  # noqa: F401 - requests reads ~/.netrc on each request it sends
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials  # noqa: F401
    import httptools  # noqa: F401
    import opentelemetry.exporter.otlp.proto.http.trace_exporter
    import opentelemetry.propagators.aws
    import opentelemetry.sdk.extension.aws.trace
    import opentelemetry.sdk.resources
    import opentelemetry.sdk.trace
    import opentelemetry.sdk.trace.export  # noqa: F401
    import requests
    import requests.adapters  # noqa: F401
    import uvicorn.lifespan.on
    import uvicorn.loops.uvloop
    import uvicorn.protocols.http.httptools_impl  # noqa: F401
    import uvloop  # noqa: F401

    import stack.local.ec2.checkout.server  # noqa: F401


class Zygote:
    def __init__(self, path: Path, exit_with_parent: bool) -> None:
        self.path = path
        self.parent = os.getppid() if exit_with_parent else None
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.children: dict[int, socket.socket | None] = {}  # pid -> the connection its exit is reported on
        self.wake_r, self.wake_w = socket.socketpair()
        self.pid = os.getpid()

    def serve(self) -> None:
        self.path.unlink(missing_ok=True)
        self.listener.bind(str(self.path))
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        for end in (self.wake_r, self.wake_w):
            end.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())  # SIGCHLD wakes the loop, which reaps
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        while self.parent is None or os.getppid() == self.parent:
            for key, _ in self.selector.select(PARENT_POLL_S):
                if key.data == "accept":
                    self.accept()
                elif key.data == "wake":
                    self.wake_r.recv(4096)
                else:  # the client closed a child's connection: it no longer wants the exit code
                    self.forget(key.fileobj)  # type: ignore[arg-type]
            self.reap()

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:  # out of descriptors, or the client already left: the next one may fare better
            return
        try:
            request = read_request(conn)
            for stream in (sys.stdout, sys.stderr):  # or the child would write the zygote's buffered lines again
                stream.flush()
            # SIGTERM waits until the child has its own disposition: the zygote's handler would exit it with 0.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            pid = os.fork()
        except Exception as error:  # noqa: BLE001 - a bad request fails that request, not the zygote
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            try:
                conn.sendall(json.dumps({"error": str(error)}).encode() + b"\n")
            except OSError:
                pass  # the client left (a readiness probe connects and closes)
            conn.close()
            return
        if pid == 0:
            self.become_child(conn, request)  # never returns
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        self.children[pid] = None
        try:
            pidfd = os.pidfd_open(pid)  # before any reap: the pid cannot be recycled yet
            try:
                socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
            finally:
                os.close(pidfd)
        except OSError:
            # Nobody will hold this instance: it must not run untracked.
            os.kill(pid, signal.SIGKILL)
            conn.close()
            return
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, "child")

    def forget(self, conn: socket.socket) -> None:
        """The client closed an instance's connection before its exit: nothing can stop that instance any more
        (a spawn that failed half-way, a dropped handle), so it is killed rather than left untracked."""
        self.selector.unregister(conn)
        conn.close()
        for pid, known in self.children.items():
            if known is conn:
                self.children[pid] = None
                os.kill(pid, signal.SIGKILL)  # not reaped yet, so this pid is still that instance

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                self.selector.unregister(conn)
                try:
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                except OSError:
                    pass
                conn.close()

    def become_child(self, conn: socket.socket, request: dict[str, Any]) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            # Leave with the zygote even if it dies before checkout's own parent watch starts (it reads the parent
            # only once running). The zygote forks from its only thread, so the signal is tied to the zygote's life.
            _die_with_parent(self.pid)
            self.selector.close()
            for held in [self.listener, self.wake_r, self.wake_w, conn,
                         *(c for c in self.children.values() if c is not None)]:
                held.close()
            log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(null)
            os.close(log)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            from stack.local.ec2.checkout.server import main

            sys.argv = ["stack.local.ec2.checkout", *request["args"]]
            code = main(request["args"])
        except SystemExit as exit_:
            code = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - whatever ended the instance, its log says so
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - exiting regardless
                    pass
            os._exit(code)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent exits (PR_SET_PDEATHSIG); at once if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # it died between the fork and the prctl
        os._exit(1)


def read_request(conn: socket.socket) -> dict[str, Any]:
    conn.settimeout(10)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("the connection closed before a whole request line")
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError(f"request longer than {MAX_REQUEST} bytes")
    request = json.loads(data)
    for field, kind in (("args", list), ("env", dict), ("cwd", str), ("log", str)):
        if not isinstance(request.get(field), kind):
            raise ValueError(f"request field {field!r} must be a {kind.__name__}, got {request.get(field)!r}")
    return request  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.local.ec2.checkout.zygote")
    parser.add_argument("--socket", required=True, type=Path, help="the Unix socket to accept spawn requests on")
    parser.add_argument("--exit-with-parent", action="store_true", help="leave when the parent process is gone")
    args = parser.parse_args(argv)
    preload()
    if threading.active_count() != 1:  # forking a process with threads copies their locks in whatever state
        print(f"zygote: {threading.active_count()} threads after preloading; a zygote must fork from one",
              file=sys.stderr)
        return 1
    # What is imported now lives as long as every instance: keep it out of the cyclic collector, so its
    # passes do not write to (and so copy) pages the children share.
    gc.collect()
    gc.freeze()
    Zygote(args.socket, args.exit_with_parent).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
