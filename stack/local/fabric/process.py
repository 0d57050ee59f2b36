"""Start and stop the fabric process; the part, tests and benchmarks share this."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from base.logfiles import open_log
from stack.local.fabric.client import FabricClient
from stack.local.fabric.errors import FabricError, FabricUnavailable

REPO_ROOT = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 10.0
UNIX_PATH_MAX_BYTES = 108  # sun_path, terminating NUL included
STOP_TIMEOUT_S = 5.0


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def control_path(directory: Path) -> Path:
    """``directory/control.sock``, or a short path in the temp dir when that would not fit a Unix socket."""
    path = directory / "control.sock"
    if len(os.fsencode(str(path))) < UNIX_PATH_MAX_BYTES:
        return path
    digest = hashlib.sha256(os.fsencode(str(path.resolve()))).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gameday-fabric-{digest}.sock"


class FabricProcess:
    """The fabric child process, with its control socket and log file in ``directory``."""

    def __init__(self, directory: Path, loop: str = "uvloop", kernel_drop: str = "") -> None:
        self.directory = Path(directory)
        self.control_path = control_path(self.directory)
        self.log_path = self.directory / "fabric.log"
        self.loop = loop
        self.kernel_drop = kernel_drop
        self.process: subprocess.Popen[bytes] | None = None
        self.client = FabricClient(str(self.control_path))

    def start(self) -> FabricClient:
        """Spawn the fabric and return once it answers. Raises FabricError with its log when it does not."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "stack.local.fabric", "--control", str(self.control_path),
                   "--log", str(self.log_path), "--parent", str(os.getpid()), "--loop", self.loop]
        if self.kernel_drop:
            command += ["--kernel-drop", self.kernel_drop]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        # Private from the first byte, and a crash before logging is set up still leaves its traceback.
        with open_log(self.log_path) as log:
            self.process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise FabricError(f"the fabric exited with {self.process.returncode} before it was ready; "
                                  f"log {self.log_path}:\n{_log_tail(self.log_path)}")
            if self.control_path.exists():
                try:
                    self.client.ping()
                    return self.client
                except FabricUnavailable:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise FabricError(f"the fabric did not answer on {self.control_path} within {READY_TIMEOUT_S} s; "
                                  f"log {self.log_path}:\n{_log_tail(self.log_path)}")
            time.sleep(0.01)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Ask the fabric to shut down, kill it if it does not, and remove its socket. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                try:
                    self.client.shutdown()
                except FabricError:
                    process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.client.close()
        if self.kernel_drop:
            # The fabric removes its table on a clean exit; this covers a killed one.
            from stack.local.fabric.firewall import remove_table

            remove_table(self.kernel_drop)
        try:
            self.control_path.unlink()
        except FileNotFoundError:
            pass
