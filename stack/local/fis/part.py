"""``FisPart``: AWS FIS experiments with real effects on the local stack.

The control plane keeps the experiment templates (moto stores them, stack.local.controlplane.fis
checks them as FIS does). This part answers the experiment operations itself:

- ``StartExperiment`` reads the template through GetExperimentTemplate, like any client, and starts
  a runner (runner.py) that resolves the targets and runs the actions through the local endpoint's
  AWS API (actions.py, network.py); the other parts make each call real;
- the SSM network documents become toxics on the target instances' links through the fabric's
  ``Toxics`` service (ssm.py), looked up when an experiment starts;
- ``GetExperiment``, ``ListExperiments``, ``StopExperiment`` and ``ListExperimentResolvedTargets``
  answer from the running experiments, with FIS's states and reasons.

Durations are AWS seconds, run at the environment's time scale. When the part stops (``gameday stack
down``), every experiment still running is stopped, so its actions undo what they did.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar, Mapping

from botocore.exceptions import ClientError

from base.timescale import TimeScale
from stack.local import fiscatalog
from stack.local.awserror import AwsError
from stack.local.fis.experiment import Experiment
from stack.local.fis.log import ExperimentLog
from stack.local.fis.runner import Runner
from stack.local.part import ApiHandler, ApiRequest, ApiResponse, Change, Health, PartContext
from stack.local.services import InstanceProcesses, Toxics

ACCOUNT_ID = "123456789012"
JSON = {"Content-Type": "application/json"}
STOP_TIMEOUT_S = 60.0  # how long `down` waits for the running experiments to undo their actions


class FisPart:
    name: ClassVar[str] = "fis"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = ()

    def __init__(self) -> None:
        self._context: PartContext | None = None
        self._experiments: dict[str, Experiment] = {}
        self._runners: dict[str, Runner] = {}
        self._tokens: dict[str, str] = {}  # clientToken -> experiment id
        self._lock = threading.Lock()

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: its threads die with the supervisor; NACL clones a crash left carry
        ``managedByFIS=true`` and are swapped associations that `gameday scan` finds."""
        return []

    def start(self, context: PartContext) -> None:
        self._context = context

    def stop(self) -> None:
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.request_stop("Experiment stopped: the local stack is going down.")
        for runner in runners:
            runner.thread.join(STOP_TIMEOUT_S)

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {("fis", "StartExperiment"): self.start_experiment, ("fis", "GetExperiment"): self.get_experiment,
                ("fis", "ListExperiments"): self.list_experiments, ("fis", "StopExperiment"): self.stop_experiment,
                ("fis", "ListExperimentResolvedTargets"): self.list_resolved_targets}

    def on_change(self, change: Change) -> None:
        return None

    def health(self) -> Health:
        return Health()

    def status(self) -> Mapping[str, Any]:
        with self._lock:
            experiments = list(self._experiments.values())
        return {"experiments": {e.id: e.status for e in experiments}}

    # -- the API -----------------------------------------------------------------------------------

    @property
    def context(self) -> PartContext:
        assert self._context is not None, "the fis part is not started"
        return self._context

    def _clients(self, service: str, region: str) -> Any:
        return self.context.client(service, region)

    def _experiment(self, request: ApiRequest) -> Experiment:
        identifier = str(request.params.get("id", ""))
        with self._lock:
            found = self._experiments.get(identifier)
        if found is None or found.region != request.region:
            raise AwsError("ResourceNotFoundException", f"Experiment {identifier} not found", 404)
        return found

    def start_experiment(self, request: ApiRequest) -> ApiResponse:
        template_id = str(request.params.get("experimentTemplateId", ""))
        token = str(request.params.get("clientToken", ""))
        with self._lock:
            earlier = self._tokens.get(token) if token else None
        if earlier is not None:
            return _ok({"experiment": self._experiments[earlier].as_json()})
        try:
            template = self._clients("fis", request.region).get_experiment_template(id=template_id)["experimentTemplate"]
        except ClientError as error:
            body = error.response.get("Error", {})
            raise AwsError(body.get("Code", "ResourceNotFoundException"), body.get("Message", str(error)),
                           error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 404)) from None
        for name, action in (template.get("actions") or {}).items():
            kind = fiscatalog.ACTIONS.get(action.get("actionId", ""))
            if kind is not None and not kind.emulated:
                raise AwsError("ValidationException", f"actions.{name}: {kind.id} is not emulated by the local stack yet "
                                                      f"(it belongs to the hybrid sites, which the local stack does not run); "
                                                      f"remove it to run this template locally")
        experiment = Experiment.from_template(template, request.region, ACCOUNT_ID, request.params.get("tags") or {})
        journal = ExperimentLog(self._log_dir() / "experiments", experiment.id, template_id,
                                template.get("logConfiguration"), self._clients, self.context.log)
        runner = Runner(experiment, self._clients, self._timescale(), self.context.log, journal,
                        self.context.find(Toxics), self.context.find(InstanceProcesses))
        with self._lock:
            self._experiments[experiment.id] = experiment
            self._runners[experiment.id] = runner
            if token:
                self._tokens[token] = experiment.id
        self.context.log.info("experiment %s of template %s starting (log %s)", experiment.id, template_id, journal.path)
        runner.start()
        return _ok({"experiment": experiment.as_json()})

    def get_experiment(self, request: ApiRequest) -> ApiResponse:
        return _ok({"experiment": self._experiment(request).as_json()})

    def list_experiments(self, request: ApiRequest) -> ApiResponse:
        template_id = request.params.get("experimentTemplateId")
        with self._lock:
            found = [e for e in self._experiments.values() if e.region == request.region
                     and (template_id is None or e.template_id == template_id)]
        return _ok({"experiments": [e.summary_json() for e in sorted(found, key=lambda e: e.created_at)]})

    def stop_experiment(self, request: ApiRequest) -> ApiResponse:
        experiment = self._experiment(request)
        if not experiment.done:
            experiment.set_state("stopping")
            self._runners[experiment.id].request_stop("Experiment stopped.")
        return _ok({"experiment": experiment.as_json()})

    def list_resolved_targets(self, request: ApiRequest) -> ApiResponse:
        experiment = self._experiment(request)
        wanted = request.params.get("targetName")
        targets = experiment.template.get("targets") or {}
        with experiment.lock:
            resolved = dict(experiment.resolved)
        return _ok({"resolvedTargets": [
            {"resourceType": targets.get(name, {}).get("resourceType", ""), "targetName": name,
             "targetInformation": {"arn": arn}}
            for name, arns in resolved.items() if wanted in (None, name) for arn in arns]})

    def _log_dir(self) -> Path:
        return self.context.log_dir or self.context.instance.log_dir / self.name

    def _timescale(self) -> TimeScale:
        return self.context.timescale


def _ok(payload: Mapping[str, Any]) -> ApiResponse:
    return ApiResponse(200, json.dumps(payload, default=str).encode(), JSON)
