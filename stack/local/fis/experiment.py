"""One FIS experiment's state, as GetExperiment shows it: the experiment's and each action's status and reason.

The runner (runner.py) moves the states; the part renders them. Every change goes through ``set_*``
under the experiment's lock, because the endpoint's threads read while the runner writes.
"""
from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

TERMINAL = frozenset({"completed", "stopped", "failed"})
ACTION_TERMINAL = frozenset({"completed", "cancelled", "stopped", "failed", "skipped"})
# The reasons FIS gives for each experiment state (GetExperiment's state.reason).
REASONS = {
    "pending": "Experiment is pending.",
    "initiating": "Experiment is initiating.",
    "running": "Experiment is running.",
    "completed": "Experiment completed.",
    "stopping": "Experiment is stopping.",
    "stopped": "Experiment stopped.",
}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str = "EXP") -> str:
    """An id in FIS's form: a prefix and 17 letters and digits (EXPaBc...)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(17))


@dataclass
class ActionRun:
    name: str
    action_id: str
    description: str
    parameters: dict[str, str]
    targets: dict[str, str]  # the action's target key -> the template's target name
    start_after: list[str]
    status: str = "pending"
    reason: str = "Initial state"
    started_at: float | None = None
    ended_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"actionId": self.action_id, "parameters": self.parameters, "targets": self.targets,
                                 "startAfter": self.start_after, "state": {"status": self.status, "reason": self.reason}}
        if self.description:
            shown["description"] = self.description
        if self.started_at is not None:
            shown["startTime"] = self.started_at
        if self.ended_at is not None:
            shown["endTime"] = self.ended_at
        return shown


@dataclass
class Experiment:
    id: str
    region: str
    account: str
    template_id: str
    template: Mapping[str, Any]  # GetExperimentTemplate's experimentTemplate, as it was at the start
    tags: dict[str, str]
    actions: dict[str, ActionRun]
    status: str = "pending"
    reason: str = REASONS["pending"]
    error: dict[str, str] | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    resolved: dict[str, list[str]] = field(default_factory=dict)  # target name -> ARNs
    described: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # ARN -> as target resolution read it
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], region: str, account: str,
                      tags: Mapping[str, str]) -> "Experiment":
        actions = {name: ActionRun(name, a["actionId"], a.get("description", ""), dict(a.get("parameters") or {}),
                                   dict(a.get("targets") or {}), list(a.get("startAfter") or []))
                   for name, a in (template.get("actions") or {}).items()}
        return cls(new_id(), region, account, template["id"], template, dict(tags), actions)

    @property
    def arn(self) -> str:
        return f"arn:aws:fis:{self.region}:{self.account}:experiment/{self.id}"

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def set_state(self, status: str, reason: str | None = None, error: Mapping[str, str] | None = None) -> None:
        with self.lock:
            self.status, self.reason = status, reason or REASONS.get(status, status)
            if error is not None:
                self.error = dict(error)
            if status == "running" and self.started_at is None:
                self.started_at = time.time()
            if status in TERMINAL:
                self.ended_at = time.time()

    def set_action(self, name: str, status: str, reason: str) -> None:
        with self.lock:
            run = self.actions[name]
            run.status, run.reason = status, reason
            if status in ("initiating", "running") and run.started_at is None:
                run.started_at = time.time()
            if status in ACTION_TERMINAL and run.started_at is not None:
                run.ended_at = time.time()

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            state: dict[str, Any] = {"status": self.status, "reason": self.reason}
            if self.error:
                state["error"] = dict(self.error)
            shown: dict[str, Any] = {
                "id": self.id, "arn": self.arn, "experimentTemplateId": self.template_id,
                "roleArn": self.template.get("roleArn", ""), "state": state,
                "targets": self.template.get("targets") or {},
                "actions": {name: run.as_json() for name, run in self.actions.items()},
                "stopConditions": self.template.get("stopConditions") or [],
                "creationTime": self.created_at, "tags": self.tags,
                "experimentOptions": self.template.get("experimentOptions")
                or {"accountTargeting": "single-account", "emptyTargetResolutionMode": "fail"},
            }
            if self.template.get("logConfiguration"):
                shown["logConfiguration"] = self.template["logConfiguration"]
            if self.started_at is not None:
                shown["startTime"] = self.started_at
            if self.ended_at is not None:
                shown["endTime"] = self.ended_at
            return shown

    def summary_json(self) -> dict[str, Any]:
        full = self.as_json()
        return {key: full[key] for key in ("id", "arn", "experimentTemplateId", "state", "creationTime", "tags",
                                           "experimentOptions")}
