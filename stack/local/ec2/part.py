"""``Ec2Part``: EC2 instances with the checkout role are real checkout processes.

RunInstances / StartInstances start one process per ``gameday:role=checkout`` instance on its private
address (through the ``Network`` service the fabric provides: ``expose(private_ip, port, "unix:<socket>")``
and ``register_process``); StopInstances / TerminateInstances stop it; RebootInstances restarts it. The
part reads everything it needs through the AWS API of the local endpoint (DescribeInstances,
DescribeInstanceAttribute userData, DescribeDBInstances, GetSecretValue), as a user would.

Instance state follows the process. A process that dies is restarted (as systemd's
Restart=on-failure would); one that keeps dying (``restart_limit`` times within
``restart_window_s``), or cannot be started at all, has its instance stopped through the API, so
DescribeInstances never shows ``running`` for an instance that serves nothing. Such an instance
also makes ``health()`` degraded, with the reason, until it runs again or is terminated.

All process work happens on one worker thread, in order: ``on_change`` only queues. Beside this
module: managed.py (one managed instance, the worker's jobs), lookup.py (what the part reads through
the API), process.py (one checkout process, and the zygote every checkout is forked from: stack.local.zygote),
registry.py (what a crashed run left), contract.py (UserData).
"""
from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from stack.local.ec2 import registry
from stack.local.ec2.contract import is_checkout
from stack.local.ec2.errors import CheckoutStartError, Ec2PartError
from stack.local.ec2.lookup import Ec2Lookup
from stack.local.ec2.managed import Job, Managed, instance_ids
from stack.local.ec2.process import CheckoutProcess, Launch, checkout_zygote
from stack.local.zygote.client import Zygote
from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.services import InstanceProcesses, Network

OPERATIONS = frozenset({"RunInstances", "StartInstances", "StopInstances", "TerminateInstances", "RebootInstances"})
RUNNING_STATES = frozenset({"pending", "running"})
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
MAX_PARALLEL_STOPS = 16  # instances stopped at once by stop(): each mostly waits for its process to drain
MONITOR_INTERVAL_S = 0.1


class Ec2Part:
    name: ClassVar[str] = "ec2"
    provides: ClassVar[tuple[type, ...]] = (InstanceProcesses,)
    requires: ClassVar[tuple[type, ...]] = (Network,)

    def __init__(self, restart_limit: int = 3, restart_window_s: float = 10.0, ready_timeout_s: float = 20.0,
                 stop_grace_s: float = 3.0) -> None:
        self.restart_limit = restart_limit
        self.restart_window_s = restart_window_s
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.context: PartContext | None = None
        self.log = logging.getLogger("gameday.ec2")
        self.directory: Path | None = None
        self.log_directory: Path | None = None
        self._registry: registry.Registry | None = None
        self._instances: dict[str, Managed] = {}
        self._jobs: deque[Job] = deque()
        self._queued = 0
        self._done = 0
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._monitor: threading.Thread | None = None
        self._lookup: Ec2Lookup | None = None
        self._zygote: Zygote | None = None
        self.last_error = ""
        self._problems: dict[str, str] = {}  # instance id (or job) -> why its checkout does not serve

    # -- Part protocol ---------------------------------------------------------------------------

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Stop the checkout processes and remove the files a crashed run recorded (registry.py)."""
        return registry.cleanup_leftovers(context.state_dir)

    def start(self, context: PartContext) -> None:
        """Clean what a crashed run left, then start the worker and the crash monitor."""
        self.context = context
        self.log = context.log
        for note in self.cleanup_leftovers(context):
            self.log.info("before start: %s", note)
        self.directory = context.state_dir / registry.DIRECTORY
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_directory = self._log_directory(context)
        self._registry = registry.Registry(self.directory)
        # Every instance is forked from one process that has imported checkout: they share its memory.
        socket_path = self.directory / "zygote.sock"
        registered = self._registry
        self._zygote = checkout_zygote(socket_path, self.log_directory / "zygote.log", self.log,
                                       started=lambda pid: registered.add(registry.ZYGOTE, pid, [socket_path]))
        self._lookup = Ec2Lookup(context, self.directory, self._stopping, self.log)
        self._stopping.clear()
        self._worker = threading.Thread(target=self._work, name="ec2-worker", daemon=True)
        self._monitor = threading.Thread(target=self._watch, name="ec2-monitor", daemon=True)
        self._worker.start()
        self._monitor.start()

    def stop(self) -> None:
        """Stop every checkout process and remove the part's files. Safe to call twice."""
        self._stopping.set()
        with self._condition:
            self._condition.notify_all()
        for thread in (self._worker, self._monitor):
            if thread is not None:
                thread.join(self.ready_timeout_s + 5)
        self._worker = self._monitor = None
        # Each instance drains for up to the grace period; stopping them one after another added those up
        # (about 0.2 s each, 1.5 s for the reference fleet at every `stack down`).
        instances = list(self._instances.values())
        try:
            if instances:
                with concurrent.futures.ThreadPoolExecutor(min(len(instances), MAX_PARALLEL_STOPS),
                                                           thread_name_prefix="ec2-stop") as pool:
                    list(pool.map(lambda instance: self._halt(instance, "stopped"), instances))
        finally:  # one instance's failure to stop must not leave the zygote and the part's files behind
            self._instances.clear()
            if self._zygote is not None:
                self._zygote.stop(self.stop_grace_s)
                self._zygote = None
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        request = change.request
        if request.service != "ec2" or request.operation not in OPERATIONS:
            return
        if request.operation == "RunInstances":
            ids = instance_ids(change.response_body)
        else:
            ids = tuple(str(i) for i in request.params.get("InstanceIds", ()) or ())
        self._enqueue(Job("change", request.region, request.operation, ids))

    def status(self) -> Mapping[str, Any]:
        with self._condition:
            instances = [i.as_json() for i in self._instances.values()]
            pending = self._queued - self._done
        zygote = self._zygote.describe() if self._zygote is not None else None
        return {"instances": instances, "pending_jobs": pending, "last_error": self.last_error, "zygote": zygote}

    def health(self) -> Health:
        with self._condition:
            return Health.of(f"{key}: {reason}" for key, reason in sorted(self._problems.items()))

    # -- for tests and builders ------------------------------------------------------------------

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until every change notified so far has been acted on. Raises Ec2PartError on timeout."""
        with self._condition:
            target = self._queued
            if not self._condition.wait_for(lambda: self._done >= target or self._stopping.is_set(), timeout_s):
                raise Ec2PartError(f"the EC2 part did not act on {target - self._done} queued change(s) "
                                   f"within {timeout_s:g} s")

    def instance(self, instance_id: str) -> Mapping[str, Any] | None:
        with self._condition:
            found = self._instances.get(instance_id)
            return found.as_json() if found is not None else None

    def pid_of(self, instance_id: str) -> int | None:
        """The pid of the checkout process running ``instance_id`` (the InstanceProcesses service)."""
        with self._condition:
            found = self._instances.get(instance_id)
            return found.process.pid if found is not None and found.state == "running" else None

    @property
    def lookup(self) -> Ec2Lookup:
        if self._lookup is None:
            raise Ec2PartError("the EC2 part is not started; call start() first")
        return self._lookup

    # -- the worker ------------------------------------------------------------------------------

    def _enqueue(self, job: Job) -> None:
        with self._condition:
            self._jobs.append(job)
            self._queued += 1
            self._condition.notify_all()

    def _work(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._jobs or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                job = self._jobs.popleft()
            try:
                if job.kind == "crashed":
                    self._crashed(job.instance_ids[0])
                else:
                    self._apply(job)
            except Exception as error:  # noqa: BLE001 - one bad change must not stop the worker
                self.last_error = f"{job.operation or job.kind} {list(job.instance_ids)}: {type(error).__name__}: {error}"
                self.log.exception("EC2 part: %s failed", job)
                with self._condition:
                    for key in job.instance_ids or (job.operation or job.kind,):
                        self._problems[key] = f"{job.operation or job.kind} failed: {type(error).__name__}: {error}"
            with self._condition:
                self._done += 1
                self._condition.notify_all()

    def _apply(self, job: Job) -> None:
        described = self.lookup.describe(job.region, job.instance_ids)
        starting: list[Managed] = []
        for item in described:
            iid = item["InstanceId"]
            state = item["State"]["Name"]
            managed = self._instances.get(iid)
            if state in ("shutting-down", "terminated"):
                with self._condition:
                    self._problems.pop(iid, None)  # nothing is asked of a terminated instance any more
            if not is_checkout(item.get("Tags")):
                continue
            if state in RUNNING_STATES:
                if managed is not None and job.operation == "RebootInstances":
                    self._halt(managed, "restarting")
                if managed is None or not managed.process.alive():
                    launched = self._launch(job.region, item, managed)
                    if launched is not None:
                        starting.append(launched)
            elif managed is not None:
                self._halt(managed, "stopped")
                if state in ("shutting-down", "terminated"):
                    self._forget(managed)
        for instance in starting:
            self._await_ready(instance)

    def _launch(self, region: str, item: Mapping[str, Any], previous: Managed | None) -> Managed | None:
        """Spawn the process of one instance (readiness is awaited by the caller, so launches overlap)."""
        assert self.context is not None and self.directory is not None and self.log_directory is not None
        iid = item["InstanceId"]
        try:
            private_ip = item.get("PrivateIpAddress") or ""
            if not private_ip or ipaddress.IPv4Address(private_ip) not in LOOPBACK:
                raise Ec2PartError(f"{iid}: private address {private_ip or '(none)'} is outside 127.0.0.0/8; launch "
                                   "checkout instances in one of the environment's subnets")
            user_data = self.lookup.user_data(region, iid)
            port = user_data.port or self.context.environment.stack.checkout_port
            database = self.lookup.database(region, iid, user_data)
            catalog = self.lookup.catalog(region, iid, user_data)
        except (Ec2PartError, ClientError, BotoCoreError, ValueError) as error:
            self._refuse(region, iid, str(error))
            return None
        launch = Launch(
            instance_id=iid, region=region, availability_zone=item.get("Placement", {}).get("AvailabilityZone", ""),
            private_ip=private_ip, uds=self.directory / f"{iid}.sock", log=self.log_directory / f"{iid}.log",
            dns_host=self.context.instance.control_host, dns_port=self.context.instance.dns_port,
            # The Route 53 server serves scaled TTLs: the client honours them as served.
            database=database, catalog=catalog, otlp_endpoint=f"{self.context.instance.aws_endpoint}/v1/traces",
            # checkout publishes its own request latency to CloudWatch, batched every 5 AWS seconds
            metrics_endpoint=self.context.instance.aws_endpoint,
            metrics_flush_s=self.context.timescale.to_wall(5.0),
        )
        assert self._zygote is not None
        instance = Managed(iid, region, launch.availability_zone, private_ip, port, CheckoutProcess(launch, self._zygote))
        if previous is not None:
            instance.restarts = previous.restarts  # a new boot: the crash history starts again
        with self._condition:
            self._instances[iid] = instance
        if not self._spawn(instance):
            return None
        return instance

    def _spawn(self, instance: Managed) -> bool:
        """Start the instance's process and record it; if it cannot be started, stop the instance (False)."""
        try:
            instance.process.start()
        except CheckoutStartError as error:
            self.log.error("checkout %s: %s", instance.instance_id, error)
            self._set(instance, "failed", str(error))
            self.last_error = f"{instance.instance_id}: {error}"
            self.lookup.stop_instance(instance.region, instance.instance_id, str(error))
            return False
        assert self._registry is not None and instance.process.pid is not None
        launch = instance.process.launch
        files = [launch.uds] + ([launch.database.password_file] if launch.database else [])
        files += [launch.catalog.admin_token_file] if launch.catalog and launch.catalog.admin_token_file else []
        self._registry.add(instance.instance_id, instance.process.pid, files)
        return True

    def _await_ready(self, instance: Managed) -> None:
        try:
            instance.process.wait_ready(self.ready_timeout_s)
        except CheckoutStartError as error:
            instance.process.stop(self.stop_grace_s)
            self._set(instance, "failed", str(error))
            self.lookup.stop_instance(instance.region, instance.instance_id, str(error))
            return
        try:
            self._expose(instance)
        except Exception as error:  # noqa: BLE001 - whatever the fabric raises, the instance serves nothing
            reason = f"the fabric could not expose {instance.private_ip}:{instance.port}: {error}"
            self.log.error("checkout %s: %s", instance.instance_id, reason)
            instance.process.stop(self.stop_grace_s)
            self._set(instance, "failed", reason)
            self.last_error = f"{instance.instance_id}: {reason}"
            self.lookup.stop_instance(instance.region, instance.instance_id, reason)
            return
        self._set(instance, "running", "")
        self.log.info("checkout %s serving on %s:%d (pid %s)", instance.instance_id, instance.private_ip,
                      instance.port, instance.process.pid)

    def _halt(self, instance: Managed, state: str) -> None:
        # Marked first, so the monitor does not take this stop for a crash; unexposed next, so new
        # connections stop arriving while in-flight requests drain.
        self._set(instance, "stopping", instance.error)
        self._unexpose(instance)
        instance.process.stop(self.stop_grace_s)
        self._set(instance, state, instance.error)

    def _forget(self, instance: Managed) -> None:
        database = instance.process.launch.database
        if database is not None:
            database.password_file.unlink(missing_ok=True)
        if self._registry is not None:
            self._registry.remove(instance.instance_id)
        with self._condition:
            self._instances.pop(instance.instance_id, None)

    def _crashed(self, instance_id: str) -> None:
        instance = self._instances.get(instance_id)
        if instance is None or instance.state != "crashed" or instance.process.alive():
            return
        code = instance.process.returncode()
        self._unexpose(instance)
        now = time.monotonic()
        instance.crashes.append(now)
        while instance.crashes and now - instance.crashes[0] > self.restart_window_s:
            instance.crashes.popleft()
        if len(instance.crashes) > self.restart_limit:
            reason = (f"checkout exited with code {code} {len(instance.crashes)} times within "
                      f"{self.restart_window_s:g} s; the instance is stopped")
            self.log.error("%s: %s", instance_id, reason)
            instance.process.stop(self.stop_grace_s)
            self._set(instance, "failed", reason)
            self.lookup.stop_instance(instance.region, instance_id, reason)
            return
        self.log.warning("checkout %s exited with code %s; restarting it", instance_id, code)
        self._set(instance, "restarting", f"exited with code {code}")
        instance.restarts += 1
        if self._spawn(instance):
            self._await_ready(instance)

    def _watch(self) -> None:
        while not self._stopping.wait(MONITOR_INTERVAL_S):
            with self._condition:
                dead = [i.instance_id for i in self._instances.values()
                        if i.state == "running" and not i.process.alive()]
            for iid in dead:
                self._set_state_if(iid, "running", "crashed")
                instance = self._instances.get(iid)
                if instance is not None:
                    self._enqueue(Job("crashed", instance.region, instance_ids=(iid,)))

    # -- helpers ---------------------------------------------------------------------------------

    def _set(self, instance: Managed, state: str, error: str) -> None:
        with self._condition:
            instance.state, instance.error = state, error
            if state == "failed":
                self._problems[instance.instance_id] = f"checkout failed and the instance was stopped: {error}"
            elif state == "running":
                self._problems.pop(instance.instance_id, None)

    def _set_state_if(self, instance_id: str, expected: str, state: str) -> None:
        # The monitor marks a dead process once, so it queues one "crashed" job per death.
        with self._condition:
            instance = self._instances.get(instance_id)
            if instance is not None and instance.state == expected:
                instance.state = state

    def _refuse(self, region: str, instance_id: str, reason: str) -> None:
        self.log.error("checkout %s not started: %s", instance_id, reason)
        self.last_error = reason
        with self._condition:
            self._problems[instance_id] = f"checkout not started and the instance was stopped: {reason}"
        self.lookup.stop_instance(region, instance_id, reason)

    def _fabric(self) -> Network:
        assert self.context is not None
        return self.context.require(Network)

    def _expose(self, instance: Managed) -> None:
        fabric = self._fabric()
        pid = instance.process.pid
        assert pid is not None
        fabric.register_process(instance.private_ip, pid)
        if not instance.exposed:
            fabric.expose(instance.private_ip, instance.port, f"unix:{instance.process.launch.uds}")
            instance.exposed = True

    def _unexpose(self, instance: Managed) -> None:
        if not instance.exposed:
            return
        try:
            self._fabric().unexpose(instance.private_ip, instance.port)
        except Exception as error:  # noqa: BLE001 - the process must be stopped even if the fabric is gone
            self.log.warning("unexposing %s:%d failed: %s", instance.private_ip, instance.port, error)
        instance.exposed = False

    def _log_directory(self, context: PartContext) -> Path:
        # Process logs outlive the stack (like the supervisor's), so a failed CI run can be read after `down`.
        path = context.log_dir or context.instance.log_dir / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path
