"""Running one experiment: initiating (resolve targets), running (actions in startAfter order), the end.

The states and reasons are FIS's:

- ``initiating``, then target resolution; a target that selects nothing fails the experiment with
  error code ``InvalidTarget`` (its location names the target), or, with the experiment option
  ``emptyTargetResolutionMode: skip``, skips the actions on it (status ``skipped``);
- ``running``: an action starts when every action in its ``startAfter`` has completed, the others at
  once (in parallel, each on its own thread); it is ``initiating`` until its effect is in place, then
  ``running``;
- ``completed`` when every action has; an action that fails fails the experiment (code
  ``ConfigurationFailure`` when it is one the local stack does not run, ``DependentServiceFailure``
  otherwise), and the others are stopped;
- ``stopping`` then ``stopped``: on StopExperiment, or when a stop-condition alarm is in ALARM
  (polled through CloudWatch's DescribeAlarms); running actions undo what they did (status
  ``stopped``), those not started are ``cancelled``.

Every transition goes to the experiment log (log.py).
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from base.timescale import TimeScale
from stack.local.fis import targets as targets_
from stack.local.fis.actions import ActionFailed, Run, runners
from stack.local.fis.experiment import ACTION_TERMINAL, Experiment
from stack.local.fis.log import ExperimentLog
from stack.local.services import InstanceProcesses, Toxics

Clients = Callable[[str, str], Any]
ALARM_POLL_AWS_S = 5.0  # how often the stop conditions are read, in AWS seconds (at least every 0.1 s, at most 1 s)


class Runner:
    def __init__(self, experiment: Experiment, clients: Clients, timescale: TimeScale, log: logging.Logger,
                 journal: ExperimentLog, toxics: Toxics | None = None,
                 processes: InstanceProcesses | None = None) -> None:
        self.experiment, self.clients, self.timescale, self.log, self.journal = experiment, clients, timescale, log, journal
        self.toxics, self.processes = toxics, processes
        self.stop_requested = threading.Event()
        self.cancel = threading.Event()  # tells running actions to undo and return
        self._stop_reason = ""
        self._failure: tuple[str, str, str] | None = None  # (action, code, reason)
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self.thread = threading.Thread(target=self._main, name=f"fis-{experiment.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def request_stop(self, reason: str) -> None:
        with self._lock:
            if not self._stop_reason:
                self._stop_reason = reason
        self.stop_requested.set()

    # -- the experiment's life ---------------------------------------------------------------------

    def _main(self) -> None:
        experiment = self.experiment
        try:
            self._initiate()
            if experiment.done:
                return
            experiment.set_state("running")
            self.journal.event("experiment-start", {"experiment_state": experiment.as_json()["state"]})
            self._loop()
        except Exception as error:  # noqa: BLE001 - a bug must still end the experiment, never hang it
            self.log.exception("experiment %s", experiment.id)
            self.cancel.set()
            self._join()
            experiment.set_state("failed", f"Internal failure: {error}", {"code": "InternalFailure"})
        finally:
            self.journal.event("experiment-end", {"experiment_state": experiment.as_json()["state"]})
            self.journal.close()

    def _initiate(self) -> None:
        experiment = self.experiment
        experiment.set_state("initiating")
        used = {name for run in experiment.actions.values() for name in run.targets.values()}
        skip_empty = (experiment.template.get("experimentOptions") or {}).get("emptyTargetResolutionMode") == "skip"
        wanted = {name: target for name, target in (experiment.template.get("targets") or {}).items() if name in used}
        # Resolved together: each is a few Describe calls, and the first action waits for all of them.
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(wanted)))) as pool:
            futures = {name: pool.submit(targets_.resolve, self.clients, experiment.region, name, target,
                                         described=experiment.described)
                       for name, target in wanted.items()}
        for name, future in futures.items():
            try:
                experiment.resolved[name] = future.result()
            except targets_.Unresolved as error:
                if skip_empty and error.empty:
                    self._skip(name, str(error))
                    continue
                experiment.set_state("failed", f"Target resolution failed: {error}",
                                     {"code": "InvalidTarget", "location": f"targets.{name}"})
                for action in experiment.actions:
                    experiment.set_action(action, "cancelled", "Experiment failed")
                return
            self.journal.event("target-resolution-end", {"target_name": name, "resources": experiment.resolved[name]})
        alarm = self._alarm_firing()
        if alarm:
            experiment.set_state("failed", f"Stop condition {alarm} is in ALARM; the experiment did not start",
                                 {"code": "ConfigurationFailure", "location": "stopConditions"})
            for action in experiment.actions:
                experiment.set_action(action, "cancelled", "Experiment failed")

    def _skip(self, target: str, why: str) -> None:
        """emptyTargetResolutionMode skip: the actions on an empty target are skipped, the others run."""
        experiment = self.experiment
        experiment.resolved[target] = []
        for name, run in experiment.actions.items():
            if target in run.targets.values():
                experiment.set_action(name, "skipped", f"Action was skipped: {why}")
        self.journal.event("target-resolution-end", {"target_name": target, "resources": [], "skipped": True})

    def _loop(self) -> None:
        experiment = self.experiment
        poll_s = min(1.0, max(0.1, self.timescale.to_wall(ALARM_POLL_AWS_S)))
        next_poll = 0.0
        while True:
            self._start_ready()
            with experiment.lock:
                statuses = {name: run.status for name, run in experiment.actions.items()}
            if self._failure is None and not self.stop_requested.is_set() and all(
                    s in ACTION_TERMINAL for s in statuses.values()):
                experiment.set_state("completed")
                return
            if self._failure is not None or self.stop_requested.is_set():
                self._wind_down()
                return
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + poll_s
                alarm = self._alarm_firing()
                if alarm:
                    self.request_stop(f"Experiment stopped by stop condition {alarm}.")
            self.stop_requested.wait(0.02)

    def _wind_down(self) -> None:
        experiment = self.experiment
        failure = self._failure
        if failure is None:
            experiment.set_state("stopping")
        self.cancel.set()
        for name, run in list(experiment.actions.items()):
            if run.status == "pending":
                experiment.set_action(name, "cancelled", "Experiment stopped" if failure is None else "Experiment failed")
        self._join()
        if failure is None:
            experiment.set_state("stopped", self._stop_reason or "Experiment stopped.")
        else:
            action, code, reason = failure
            experiment.set_state("failed", f"Action {action} failed: {reason}",
                                 {"code": code, "location": f"actions.{action}"})

    def _join(self) -> None:
        for thread in list(self._threads.values()):
            thread.join()

    # -- actions -----------------------------------------------------------------------------------

    def _start_ready(self) -> None:
        experiment = self.experiment
        if self.cancel.is_set():
            return
        with experiment.lock:
            ready = [run for run in experiment.actions.values() if run.status == "pending"
                     and all(experiment.actions[b].status in ("completed", "skipped") for b in run.start_after)]
        for run in ready:
            experiment.set_action(run.name, "initiating", "Action is initiating")
            action = Run(run.name, run.action_id, experiment.region, run.parameters,
                         {key: experiment.resolved.get(target, []) for key, target in run.targets.items()},
                         self.clients, self.timescale, self.cancel, self.log, experiment.id,
                         functools.partial(experiment.set_action, run.name, "running", "Action is running"),
                         self.toxics, self.processes, dict(experiment.described))
            self.journal.event("action-start", {"action_name": run.name, "action_id": run.action_id,
                                                "action_targets": dict(action.targets)})
            thread = threading.Thread(target=self._run_action, args=(action,), name=f"fis-{experiment.id}-{run.name}",
                                      daemon=True)
            self._threads[run.name] = thread
            thread.start()

    def _run_action(self, action: Run) -> None:
        experiment = self.experiment
        function = runners().get(action.action_id)
        try:
            if function is None:
                raise ActionFailed(f"{action.action_id} is not emulated by the local stack")
            function(action)
        except Exception as error:  # noqa: BLE001 - the action fails, with the reason, and the experiment with it
            code = "ConfigurationFailure" if isinstance(error, ActionFailed) else "DependentServiceFailure"
            reason = str(error) if isinstance(error, ActionFailed) else f"{type(error).__name__}: {error}"
            self.log.warning("experiment %s: action %s failed: %s", experiment.id, action.name, reason)
            experiment.set_action(action.name, "failed", reason)
            with self._lock:
                if self._failure is None:
                    self._failure = (action.name, code, reason)
            self.stop_requested.set()
        else:
            if self.cancel.is_set():
                experiment.set_action(action.name, "stopped", "Action was stopped")
            else:
                experiment.set_action(action.name, "completed", "Action was completed.")
        self.journal.event("action-end", {"action_name": action.name, "action_state":
                                          experiment.as_json()["actions"][action.name]["state"]})

    # -- stop conditions ---------------------------------------------------------------------------

    def _alarm_firing(self) -> str | None:
        """The ARN of a stop-condition alarm in ALARM, or None (read through CloudWatch's DescribeAlarms)."""
        for condition in self.experiment.template.get("stopConditions") or ():
            arn = condition.get("value")
            if condition.get("source") != "aws:cloudwatch:alarm" or not arn:
                continue
            _, _, _, region, _, _, name = arn.split(":", 6)
            alarms = self.clients("cloudwatch", region).describe_alarms(AlarmNames=[name])["MetricAlarms"]
            if any(a.get("StateValue") == "ALARM" for a in alarms):
                return str(arn)
        return None
