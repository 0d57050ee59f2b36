"""Start and stop the fabric process; the part, tests and benchmarks share this."""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from base.deadline import DeadlineExceeded, until
from stack.local import process as executor
from stack.local.fabric.client import FabricClient
from stack.local.fabric.errors import FabricError, FabricUnavailable
from stack.local.zygote.client import Zygote

READY_TIMEOUT_S = 10.0
UNIX_PATH_MAX_BYTES = 108  # sun_path, terminating NUL included
STOP_TIMEOUT_S = 5.0
MAIN = "stack.local.fabric.__main__:main"  # what a zygote runs in the child it forks


def control_path(directory: Path) -> Path:
    """``directory/control.sock``, or a short path in the temp dir when that would not fit a Unix socket."""
    path = directory / "control.sock"
    if len(os.fsencode(str(path))) < UNIX_PATH_MAX_BYTES:
        return path
    digest = hashlib.sha256(os.fsencode(str(path.resolve()))).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gameday-fabric-{digest}.sock"


class FabricProcess:
    """The fabric child process, with its control socket and log file in ``directory``.

    Forked from ``zygote`` when one is given (the stack's: it shares that interpreter's memory), else a
    process of its own."""

    def __init__(self, directory: Path, loop: str = "uvloop", kernel_drop: str = "", zygote: Zygote | None = None) -> None:
        self.directory = Path(directory)
        self.control_path = control_path(self.directory)
        self.log_path = self.directory / "fabric.log"
        self.loop = loop
        self.kernel_drop = kernel_drop
        self.zygote = zygote
        self.process: executor.Child | None = None
        self.client = FabricClient(str(self.control_path))

    def start(self) -> FabricClient:
        """Spawn the fabric and return once it answers. Raises FabricError with its log when it does not."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["--control", str(self.control_path), "--log", str(self.log_path), "--loop", self.loop]
        if self.kernel_drop:
            args += ["--kernel-drop", self.kernel_drop]
        env = executor.child_environment()
        # Either way its output goes to its log: a crash before logging is set up still leaves its traceback.
        if self.zygote is not None:  # it watches its parent, the zygote, which leaves with the stack
            self.process = self.zygote.spawn(args, env, executor.REPO_ROOT, self.log_path, main=MAIN)
        else:
            command = [sys.executable, "-m", "stack.local.fabric", *args, "--parent", str(os.getpid())]
            self.process = executor.start(command, self.log_path, stdout=False, env=env, cwd=executor.REPO_ROOT)
        try:
            until(self._answers, READY_TIMEOUT_S, interval_s=0.01, ignore=(FabricUnavailable,))
        except DeadlineExceeded:
            self.stop()
            raise FabricError(f"the fabric did not answer on {self.control_path} within {READY_TIMEOUT_S} s; "
                              f"log {self.log_path}:\n{executor.tail(self.log_path)}") from None
        return self.client

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise FabricError(f"the fabric exited with {self.process.returncode} before it was ready; "
                              f"log {self.log_path}:\n{executor.tail(self.log_path)}")
        if not self.control_path.exists():
            return False
        self.client.ping()
        return True

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ask the fabric to shut down, kill it if it does not, and remove its socket. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            executor.stop(process, STOP_TIMEOUT_S, ask=self.client.shutdown, reap_s=None)
        self.client.close()
        if self.kernel_drop:
            # The fabric removes its table on a clean exit; this covers a killed one.
            from stack.local.fabric.firewall import remove_table

            remove_table(self.kernel_drop)
        try:
            self.control_path.unlink()
        except FileNotFoundError:
            pass
