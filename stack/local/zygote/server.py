"""The zygote process: it imports a program once, then forks each run of it on request.

A Python child of the stack is mostly the heap of what it imports, the same in every copy. Forked from
a process that already holds it, a child shares those pages with the zygote and its siblings
(copy-on-write) instead of building its own, and it is running sooner: no interpreter start, no imports.
``python -m stack.local.zygote --socket PATH [--main MODULE:FUNCTION] [--preload MODULE]...``. The
checkout zygote forks one program (``--main``, imported before the first fork, with ``--preload`` modules
whose ``preload()`` is called if they have one: what the program imports only once running, which each
child would otherwise import for itself). The stack's zygote forks the programs of several parts (the
warehouse, the store services): each request names its own, imported the first time it is named.

Protocol, on a Unix socket, one connection per child: the client sends one JSON line
``{"args": [...], "env": {...}, "cwd": "...", "log": "...", "main": "MODULE:FUNCTION"}`` ("main" optional
with ``--main``); the zygote forks and answers one JSON line ``{"pid": N}`` with a pidfd of the child
attached (SCM_RIGHTS), which the client signals and polls without any risk of a recycled pid. The child
runs ``FUNCTION(args)`` and exits with what it returns. When the child exits, the zygote reaps it and
writes ``{"exit": code}`` (a negative code is the signal that ended it, as with subprocess) on that
connection, then closes it.

Each child is a process of its own, so stopping or killing one touches no other. The zygote leaves
when its parent is gone, and the kernel kills each child when the zygote is gone (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

PARENT_POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # linux/prctl.h
MAX_REQUEST = 1 << 20


Program = Callable[[list[str]], "int | None"]


class Zygote:
    def __init__(self, path: Path, default_main: str | None, exit_with_parent: bool) -> None:
        self.path = path
        self.default_main = default_main
        self.programs: dict[str, Program] = {}  # MODULE:FUNCTION -> the function, once imported here
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
            main = request.get("main") or self.default_main
            if not isinstance(main, str):
                raise ValueError("the request names no main and the zygote has no --main")
            run = self.program(main)
            if threading.active_count() != 1:  # forking a process with threads copies their locks in whatever state
                raise ValueError(f"{threading.active_count()} threads run in the zygote (an import started one); "
                                 f"it forks from one only")
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
            self.become_child(conn, request, run, main.partition(":")[0])  # never returns
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        self.children[pid] = None
        try:
            pidfd = os.pidfd_open(pid)  # before any reap: the pid cannot be recycled yet
            try:
                socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
            finally:
                os.close(pidfd)
        except OSError:
            # Nobody will hold this child: it must not run untracked.
            os.kill(pid, signal.SIGKILL)
            conn.close()
            return
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, "child")

    def forget(self, conn: socket.socket) -> None:
        """The client closed a child's connection before its exit: nothing can stop that child any more
        (a spawn that failed half-way, a dropped handle), so it is killed rather than left untracked."""
        self.selector.unregister(conn)
        conn.close()
        for pid, known in self.children.items():
            if known is conn:
                self.children[pid] = None
                os.kill(pid, signal.SIGKILL)  # not reaped yet, so this pid is still that child

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

    def program(self, main: str) -> Program:
        """``main``'s function, imported in the zygote the first time a request names it, so that every child
        forked for it from then on shares the import."""
        run = self.programs.get(main)
        if run is None:
            run = load(main)
            freeze()
            self.programs[main] = run
        return run

    def become_child(self, conn: socket.socket, request: dict[str, Any], run: Program, name: str) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            # Leave with the zygote even if it dies before the program's own parent watch starts (it reads the parent
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
            sys.argv = [name, *request["args"]]
            returned = run(list(request["args"]))
            code = 0 if returned is None else returned
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:  # SystemExit("message"): printed and exit code 1, as the interpreter does
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - whatever ended the child, its log says so
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


def load(main: str) -> Program:
    """Import ``main``'s module (MODULE:FUNCTION) and return the function. Raises ValueError naming what is wrong."""
    module_name, colon, function_name = main.partition(":")
    if not colon or not module_name or not function_name:
        raise ValueError(f"main {main!r}: expected MODULE:FUNCTION such as stack.local.stores.__main__:main")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"main {main!r}: cannot import {module_name}: {error}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"main {main!r}: {module_name} has no function {function_name!r}")
    return function  # type: ignore[no-any-return]


def freeze() -> None:
    """What is imported so far lives as long as every child: keep it out of the cyclic collector, so its
    passes do not write to (and so copy) pages the children share."""
    gc.collect()
    gc.freeze()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.local.zygote")
    parser.add_argument("--socket", required=True, type=Path, help="the Unix socket to accept fork requests on")
    parser.add_argument("--main", help="MODULE:FUNCTION a child runs with its args when its request names none")
    parser.add_argument("--preload", action="append", default=[], metavar="MODULE",
                        help="another module to import before forking (repeatable)")
    parser.add_argument("--exit-with-parent", action="store_true", help="leave when the parent process is gone")
    args = parser.parse_args(argv)
    zygote = Zygote(args.socket, args.main, args.exit_with_parent)
    try:
        for name in args.preload:
            module = importlib.import_module(name)
            hook = getattr(module, "preload", None)
            if callable(hook):
                hook()
        if args.main:
            zygote.program(args.main)
    except ValueError as error:
        parser.error(f"--{error}" if str(error).startswith("main ") else str(error))
    if threading.active_count() != 1:  # forking a process with threads copies their locks in whatever state
        print(f"zygote: {threading.active_count()} threads after preloading; a zygote must fork from one",
              file=sys.stderr)
        return 1
    freeze()
    zygote.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
