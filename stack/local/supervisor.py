"""The local stack's lifecycle: one supervisor process that owns every part and child process.

``up`` cleans what a killed supervisor left, starts the AWS endpoint and the parts (each after the
providers of the services it requires, stack.local.assembly), writes
the state file (the contract other tools read: ``stack status --json``), and runs until SIGTERM or
SIGINT. ``down`` stops it and removes its state directory. Nothing outlives the stack: every child
inherits ``GAMEDAY_STACK_MARKER``, so even processes that left the supervisor's session (PostgreSQL
daemonises) are found and stopped after a crash.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

from environments.model import LocalEnvironment
from base.errors import StackDegraded, StackError, StackNotRunning, Unreachable
from base import files
from base.deadline import DeadlineExceeded, until
from base.logfiles import open_log, restrict as restrict_logs
from base.periodic import Periodic
from stack.local import assembly, heap, installed, leftovers, longlived, process as executor
from stack.local.instance import Instance
from stack.local.part import Health, Part
from stack.local.partnames import ENFORCES, PARTS, part_name, select_parts
from stack.local.services import ServiceRecords, Services
from stack.local.zygote.client import Zygote

STATE_FILE = "state.json"
LOG_FILE = "supervisor.log"  # in the instance's log directory
MARKER_VARIABLE = "GAMEDAY_STACK_MARKER"
STATUS_PATH = "/_gameday/status"
ZYGOTE_SOCKET = "zygote.sock"  # in the state directory
def marker(instance: Instance) -> str:
    return str(instance.state_dir)


def read_state(instance: Instance) -> dict[str, Any] | None:
    path = instance.state_dir / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())  # the supervisor wrote it: one JSON object
        return state
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return {"pid": None, "corrupt": True}


# The kernel may deliver a stop signal to any of the supervisor's threads. Python runs the handler only in
# the main thread, the next time it runs Python code: a main thread blocked in an untimed wait would not
# wake (a stack once ignored SIGTERM for the 60 s `stop()` allows, and was killed).
STOP_POLL_S = 0.5


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set, waking now and then so a signal's handler can run in this thread."""
    while not stop.wait(STOP_POLL_S):
        pass


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def running_pid(instance: Instance) -> int | None:
    state = read_state(instance)
    pid = state.get("pid") if state else None
    return pid if pid_alive(pid) and state and state.get("ready") else None


def clean_leftovers(instance: Instance, log: logging.Logger | Callable[[str], None] | None = None) -> list[str]:
    """Remove what a killed supervisor left: processes carrying its marker, and its state directory."""
    killed = leftovers.kill_marked(MARKER_VARIABLE, marker(instance))
    notes = []
    if instance.state_dir.exists():
        # Parts keep registries of what they started (PostgreSQL data dirs can live outside the state dir).
        notes += assembly.cleanup_leftovers([assembly.load(spec) for spec in PARTS], instance)
    removed = []
    if instance.state_dir.exists():
        shutil.rmtree(instance.state_dir, ignore_errors=True)
        removed.append(str(instance.state_dir))
    try:
        instance.state_dir.parent.rmdir()  # only when no other instance is using the runtime root
    except OSError:
        pass
    notes = [f"stopped leftover process {pid} ({name})" for pid, name in killed] + notes + [f"removed {p}" for p in removed]
    if log is not None:
        for note in notes:
            (log.info if isinstance(log, logging.Logger) else log)(note)
    return notes


class Supervisor:
    """Runs in the foreground: ``run()`` returns after a stop signal, with everything stopped."""

    def __init__(self, environment: LocalEnvironment, instance: Instance, parts: Iterable[str] = PARTS) -> None:
        self.instance = instance
        self.environment = instance.resolved()
        self.source_environment = environment
        self.part_names = tuple(parts)
        self.parts: list[Part] = []
        self.logs = instance.log_dir
        self.log = logging.getLogger("gameday.supervisor")
        # Imported here so `stack down` / `status` / the detaching parent never pay for loading moto.
        installed.require()  # a core install has no moto: say which extra brings it
        from stack.local.controlplane.app import ControlPlane

        self.services = Services()
        self.control_plane = ControlPlane(logging.getLogger("gameday.controlplane"), instance, self.services)
        self.endpoint: Any = None
        self.zygote: Zygote | None = None
        self._stop = threading.Event()
        self.started_at = time.time()

    def _setup_logging(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        open_log(self.logs / LOG_FILE, append=False).close()  # 0600 before the first line
        handler = logging.FileHandler(self.logs / LOG_FILE, mode="a")
        from base.redact import RedactingFormatter

        handler.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger("gameday")
        root.setLevel(logging.INFO)
        root.addHandler(handler)

    def start(self) -> None:
        state = read_state(self.instance)
        if state and pid_alive(state.get("pid")) and state.get("pid") != os.getpid():
            raise StackError(f"a local stack (instance {self.instance.number}) is already running as pid {state['pid']}; "
                             f"use it, or stop it with `gameday stack down{self.instance.option}`")
        self._setup_logging()
        self.log.info("starting local stack instance %d (pid %d)", self.instance.number, os.getpid())
        for note in clean_leftovers(self.instance):
            self.log.info("before start: %s", note)
        # Another instance's cleanup may remove the shared runtime root while this one makes its directory in it.
        files.make_dirs(self.instance.state_dir, mode=0o755)
        # Every descendant inherits the marker, which is how a crash's leftovers are found later.
        os.environ[MARKER_VARIABLE] = marker(self.instance)
        self._write_state(ready=False)
        from stack.local.endpoint import AwsEndpoint

        # The parts' Python children (the warehouse, the store services) are forked from one process that has
        # imported them, so they share its memory; it starts with the first of them.
        self.zygote = Zygote(self.instance.state_dir / ZYGOTE_SOCKET, self.logs / "zygote.log", executor.REPO_ROOT,
                             executor.child_environment(), name="stack's zygote", logger=self.log)  # started by its first spawn
        app = with_status_route(self.control_plane, lambda: self.status() | {"ready": True, "parts": part_status(self.parts)})
        self.endpoint = AwsEndpoint(app, self.instance.control_host, self.environment.local.aws_endpoint_port)
        self.endpoint.start()
        assembly.start_parts([assembly.load(spec) for spec in self.part_names], self.instance, self.services,
                             started=self._started, known=[assembly.load(spec) for spec in PARTS], zygote=self.zygote)
        # moto's and botocore's models are millions of objects that live as long as the stack: kept out of
        # the cyclic collector, whose full passes over them stalled request threads and the replicators.
        gc.collect()
        gc.freeze()
        longlived.freeze_after_full_collections()  # and, from now on, what survives each full pass
        self._write_state(ready=True)
        self.log.info("local stack instance %d ready at %s", self.instance.number, self.instance.aws_endpoint)

    def _started(self, part: Part) -> None:
        restrict_logs([self.logs, self.instance.state_dir])  # logs a part's child process opened itself
        self.parts.append(part)
        self.control_plane.attach(part)

    def stop(self) -> None:
        self.control_plane.detach_all()
        self.log.info("stopping local stack instance %d", self.instance.number)
        for part in reversed(self.parts):
            began = time.monotonic()
            try:
                part.stop()
            except Exception:
                self.log.exception("stopping %s failed", part.name)
            else:
                self.log.info("part %s stopped in %.2f s", part.name, time.monotonic() - began)
        self.parts.clear()
        if self.zygote is not None:  # after the parts: their children leave with it
            self.zygote.stop()
            self.zygote = None
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None
        clean_leftovers(self.instance, self.log)

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: self._stop.set())
        heap.limit_arenas()  # before the endpoint's and the parts' threads allocate
        trimmer = Periodic(heap.trim, heap.TRIM_EVERY_S, "heap-trim")
        try:
            self.start()
            heap.trim()  # what the imports and the parts' start decoded and dropped
            if heap.available:
                trimmer.start()
            wait_for_stop(self._stop)
        finally:
            trimmer.stop()
            self.stop()

    def status(self) -> dict[str, Any]:
        env = self.environment
        return {
            "instance": self.instance.number,
            "pid": os.getpid(),
            "environment": env.name,
            "time_scale": env.time_scale,
            "aws_endpoint": self.instance.aws_endpoint,
            "dns": {"host": self.instance.control_host, "port": self.instance.dns_port,
                    "serving": self.services.find(ServiceRecords) is not None},
            "regions": list(env.regions),
            "availability_zones": {name: {az: zone.subnet_cidr for az, zone in region.availability_zones.items()}
                                   for name, region in env.regions.items()},
            "vantage_points": {name: {"subnet": vp.subnet, "continent": vp.continent, "country": vp.country,
                                      "subdivision": vp.subdivision} for name, vp in env.vantage_points.items()},
            "state_dir": str(self.instance.state_dir),
            "logs": {"supervisor": str(self.logs / LOG_FILE), **{
                p.name: str(self.logs / LOG_FILE) for p in self.parts}},
            "started_at": self.started_at,
            "api_calls": self.control_plane.calls,
        }

    def _write_state(self, ready: bool) -> None:
        state = self.status() | {"ready": ready}
        files.write_json(self.instance.state_dir / STATE_FILE, state, indent=2)


def with_status_route(app: Any, status: Callable[[], dict[str, Any]]) -> Callable[..., Any]:
    """``app`` with the live status served beside the API at STATUS_PATH, as LocalStack does."""
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATUS_PATH:
            body = json.dumps(status()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        body_parts: Iterable[bytes] = app(environ, start_response)  # moto's app: a WSGI callable
        return body_parts

    return wsgi


def part_status(parts: Iterable[Part]) -> dict[str, Any]:
    """Each part's ``status()`` with its ``health()`` under the key ``health``, by part name."""
    result = {}
    for part in parts:
        try:
            result[part.name] = dict(part.status())
        except Exception as error:  # status must never take the endpoint down
            result[part.name] = {"error": str(error)}
        try:
            health = part.health()
        except Exception as error:  # noqa: BLE001 - a part that cannot tell is not known to be healthy
            health = Health.of([f"health() raised {type(error).__name__}: {error}"])
        result[part.name]["health"] = health.as_json()
    return result


def start_detached(environment_name: str, instance: Instance, timeout_s: float = 60, parts: str = "all") -> dict[str, Any]:
    """Start a supervisor in the background and wait until its state file says ready.

    Raises StackError with the supervisor's log tail when it dies or is not ready in time.
    """
    installed.require()
    if running_pid(instance):
        raise StackError(f"a local stack (instance {instance.number}) is already running; "
                         f"`gameday stack status{instance.option}` shows it")
    logs = instance.log_dir
    logs.mkdir(parents=True, exist_ok=True)
    console = logs / "console.log"
    env = dict(os.environ, GAMEDAY_INSTANCE=str(instance.number))
    process = executor.start([sys.executable, "-m", "gameday.cli", "stack", "up", "--env", environment_name,
                              "--parts", parts], console, append=False, env=env, start_new_session=True)

    def ready() -> dict[str, Any] | None:
        state = read_state(instance)
        if state and state.get("ready") and state.get("pid") == process.pid:
            return state
        if process.poll() is not None:
            raise StackError(f"the local stack exited with code {process.returncode} while starting; "
                             f"its output ({console}):\n{_tail(console)}")
        return None

    try:
        return until(ready, timeout_s, interval_s=0.05)
    except DeadlineExceeded:
        process.terminate()
        raise StackError(f"the local stack was not ready within {timeout_s:.0f} s; its output ({console}):\n"
                         f"{_tail(console)}") from None


def stop(instance: Instance, timeout_s: float = 60) -> list[str]:
    """Stop the instance's supervisor (if any) and clean whatever is left. Returns what was done."""
    state = read_state(instance)
    notes = []
    pid = state.get("pid") if state else None
    if pid is not None and pid_alive(pid):
        if executor.stop_pids([pid], lambda: [pid] if pid_alive(pid) else [], timeout_s).killed:
            note = f"supervisor {pid} did not stop within {timeout_s:.0f} s of SIGTERM and was killed"
            notes.append(note)
            # Loud where it is looked for: a test session's warnings summary, and the stack's own log.
            warnings.warn(f"local stack instance {instance.number}: {note}", RuntimeWarning, stacklevel=2)
            with contextlib.suppress(OSError), (instance.log_dir / LOG_FILE).open("a") as log:
                log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {note} (by `stop`)\n")
        else:
            notes.append(f"stopped the local stack (instance {instance.number}, pid {pid})")
    notes += clean_leftovers(instance)
    return notes


def live_status(aws_endpoint: str, timeout_s: float = 5) -> dict[str, Any]:
    """The running supervisor's live status (the state file's keys plus ``parts``, each with its ``health``).

    Raises Unreachable when the stack does not answer.
    """
    try:
        with urllib.request.urlopen(aws_endpoint + STATUS_PATH, timeout=timeout_s) as response:
            return dict(json.loads(response.read()))
    except (OSError, ValueError) as error:
        raise Unreachable(f"the local stack does not answer at {aws_endpoint}{STATUS_PATH}: {error}") from None


def refuse_if_degraded(aws_endpoint: str, doing: str) -> None:
    """Raise StackDegraded, naming each degraded part and its reasons, before ``doing`` starts on a degraded stack.

    A fault on such a stack may change what the API shows and still not take effect (an AZ that is
    "isolated" but still answers), so the run would prove nothing. Raises StackError when the stack
    does not answer.
    """
    degraded = degraded_parts(live_status(aws_endpoint))
    if degraded:
        raise StackDegraded(f"refusing to start {doing}: the local stack at {aws_endpoint} is degraded, so a fault "
                            f"may not take effect:\n{describe_degraded(degraded)}\n`gameday stack status` shows it; "
                            "fix or revert what the part names, or restart the stack (`gameday stack down`, `up`)")


def degraded_parts(live: dict[str, Any]) -> dict[str, Health]:
    """The parts of a ``live_status()`` that are not healthy, by name.

    A part the stack was started without (``--parts``) counts too: with no fabric, a NACL fault
    changes EC2 and nothing else, so an experiment on that stack would prove nothing.
    """
    found = {name: Health.from_json(part.get("health") if isinstance(part, dict) else None)
             for name, part in (live.get("parts") or {}).items()}
    for name in map(part_name, select_parts("all")):
        if name not in found:
            found[name] = Health.of([f"not started: nothing enforces {ENFORCES[name]} (the stack was started with "
                                     f"--parts without {name}; `gameday stack up` starts all parts)"])
    return {name: health for name, health in found.items() if not health.healthy}


def describe_degraded(degraded: dict[str, Health]) -> str:
    """One line per degraded part and reason, for refusals and `stack status`."""
    return "\n".join(f"  {name}: {reason}" for name, health in degraded.items() for reason in health.reasons)


def require_running(instance: Instance) -> dict[str, Any]:
    state = read_state(instance)
    if not state or not pid_alive(state.get("pid")):
        raise StackNotRunning(f"no local stack is running for instance {instance.number} "
                              f"(state dir {instance.state_dir}); start one with `gameday stack up --detach{instance.option}`")
    return state


def _tail(path: Path) -> str:
    return executor.tail(path, lines=30, missing="(no output)")
