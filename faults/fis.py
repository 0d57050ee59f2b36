"""Faults run as AWS FIS experiments (``injector: fis``), for teams that want FIS's own audit trail.

1. create an experiment template: one action on the fault's targets (by ARN), the environment's
   stop-condition alarms in the experiment's Region as FIS stop conditions, tagged with the run id;
2. start it, and wait until its action runs;
3. on rollback, stop it (network) or let it finish (reboot), wait for the end, copy each action's
   start and end time to the timeline, and delete the template.

Both client tokens derive from the journal entry, so a retried call never starts a second experiment.
``aws:network:disrupt-connectivity`` ends by itself after ``max_duration_s``: a dead man's switch when
gameday dies and no one runs ``gameday recover``. The local stack runs FIS experiments too (its fis
part), with the same effects, so this path works there as well, although only an aws environment file
may set ``injector: fis`` (tests drive it through a Guard). FIS events go on the timeline as notes
(``fis_experiment_started``, ``fis_action``), a kind the evidence schema accepts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from botocore.exceptions import ClientError

from base import runid
from base.deadline import DeadlineExceeded, until
from base.errors import FaultError
from faults.guard import FisSettings
from faults.plan import Call

if TYPE_CHECKING:
    from faults.base import Fault

DISRUPT_CONNECTIVITY = "aws:network:disrupt-connectivity"
REBOOT_DB_INSTANCES = "aws:rds:reboot-db-instances"
PAUSE_REPLICATION = "aws:dynamodb:global-table-pause-replication"
TERMINAL = frozenset({"completed", "stopped", "failed", "cancelled"})
STARTED = frozenset({"running", "completed"})


@dataclass(frozen=True)
class Action:
    name: str  # the action's name in the template
    action_id: str
    target_key: str  # the action's target key, also used as the template's target name
    resource_type: str
    resource_arns: tuple[str, ...]
    parameters: Mapping[str, str] = field(default_factory=dict)


def disrupt_connectivity(subnet_arns: list[str], duration_s: int) -> Action:
    """Deny all traffic in and out of the subnets except within each subnet (scope ``all``)."""
    return Action("isolate", DISRUPT_CONNECTIVITY, "Subnets", "aws:ec2:subnet", tuple(subnet_arns),
                  {"duration": f"PT{max(1, round(duration_s / 60))}M", "scope": "all"})


def reboot_db_instances(db_arns: list[str]) -> Action:
    return Action("reboot", REBOOT_DB_INSTANCES, "DBInstances", "aws:rds:db", tuple(db_arns), {"forceFailover": "true"})


def pause_replication(table_arns: list[str], duration_s: int) -> Action:
    """Pause a global table's replication to and from the replicas (the action ends after ``duration``)."""
    return Action("pause", PAUSE_REPLICATION, "Tables", "aws:dynamodb:global-table", tuple(table_arns),
                  {"duration": f"PT{max(1, round(duration_s / 60))}M"})


def template(action: Action, *, description: str, role_arn: str, alarm_arns: list[str],
             tags: Mapping[str, str]) -> dict[str, Any]:
    """The CreateExperimentTemplate parameters (without clientToken)."""
    stop_conditions = [{"source": "aws:cloudwatch:alarm", "value": arn} for arn in alarm_arns] or [{"source": "none"}]
    return {
        "description": description[:512],
        "roleArn": role_arn,
        "stopConditions": stop_conditions,
        "targets": {action.target_key: {"resourceType": action.resource_type, "resourceArns": list(action.resource_arns),
                                        "selectionMode": "ALL"}},
        "actions": {action.name: {"actionId": action.action_id, "parameters": dict(action.parameters),
                                  "targets": {action.target_key: action.target_key}}},
        "tags": dict(tags),
    }


@dataclass(frozen=True)
class ActionTime:
    name: str
    action_id: str
    status: str
    reason: str
    started_at: datetime | None
    ended_at: datetime | None


def action_times(experiment: Mapping[str, Any]) -> list[ActionTime]:
    """Each action's state and timestamps as GetExperiment reports them."""
    return [ActionTime(name, action.get("actionId", ""), action.get("state", {}).get("status", ""),
                       action.get("state", {}).get("reason", ""), action.get("startTime"), action.get("endTime"))
            for name, action in sorted(experiment.get("actions", {}).items())]


def note(fault: "Fault", name: str, **details: Any) -> None:
    """A FIS event on the fault's timeline: a note named ``name`` (the evidence schema knows no FIS event kinds)."""
    if fault.timeline is not None:
        fault.timeline.record("note", name, fault=fault.name, **details)


def settings_of(fault: "Fault") -> FisSettings:
    """The FIS settings of the guard in force (defaults for `gameday recover`)."""
    return fault._in_force.policy.fis if fault._in_force else FisSettings()


def wait(fis: Any, experiment_id: str, done: Callable[[Mapping[str, Any]], bool], awaiting: str,
         settings: FisSettings) -> Mapping[str, Any]:
    """Poll GetExperiment until ``done``. Raises FaultError if the experiment ends first or the deadline passes."""
    def poll() -> Mapping[str, Any]:
        experiment: Mapping[str, Any] = fis.get_experiment(id=experiment_id)["experiment"]
        state = experiment.get("state", {})
        if not done(experiment) and state.get("status") in TERMINAL:
            raise FaultError(f"FIS experiment {experiment_id} ended {state.get('status')} ({state.get('reason', '')}) "
                             f"while gameday awaited {awaiting}")
        return experiment

    try:
        return until(poll, settings.timeout_s, interval_s=settings.poll_s, accept=done)
    except DeadlineExceeded as timeout:
        state = timeout.last.get("state", {})
        raise FaultError(f"FIS experiment {experiment_id}: waited {settings.timeout_s:.0f} s for {awaiting}; "
                         f"it is still {state.get('status')} ({state.get('reason', '')})") from None


def inject(fault: "Fault", region: str, action: Action) -> None:
    """Create the template and start the experiment, journaling each id first; wait until the action runs."""
    assert fault.entry is not None and fault.caller is not None
    settings = settings_of(fault)
    fis = fault.clients("fis", region)
    role = settings.role_arn or f"arn:{fault.caller.partition}:iam::{fault.caller.account_id}:role/gameday-fis"
    alarms = [a.arn for a in fault.alarms if a.region == region and a.arn]
    tags = {"gameday:fault": fault.entry.id, runid.TAG: fault.run_id, "Name": f"gameday {fault.name}"}
    created = fis.create_experiment_template(
        clientToken=f"{fault.entry.id}-template", **template(
            action, description=f"gameday {fault.name} (run {fault.run_id}, entry {fault.entry.id})",
            role_arn=role, alarm_arns=alarms, tags=tags))
    template_id = created["experimentTemplate"]["id"]
    fault.journal.progress(fault.entry, fis_region=region, fis_template_id=template_id)
    started = fis.start_experiment(clientToken=f"{fault.entry.id}-experiment", experimentTemplateId=template_id,
                                   tags=tags)
    experiment_id = started["experiment"]["id"]
    fault.journal.progress(fault.entry, fis_experiment_id=experiment_id)
    if fault.planning:
        return  # the ids are placeholders: there is nothing to wait for
    wait(fis, experiment_id, lambda e: e.get("actions", {}).get(action.name, {}).get("state", {}).get("status") in STARTED,
         f"action {action.name} ({action.action_id}) to start", settings)
    note(fault, "fis_experiment_started", experiment_id=experiment_id, template_id=template_id, action=action.action_id)


def rollback(fault: "Fault", state: Mapping[str, Any], stop: bool) -> None:
    """Stop the experiment (``stop``) or let it finish, wait for its end, record action times, delete the template."""
    region = state.get("fis_region") or state["region"]
    fis = fault.clients("fis", region)
    settings = settings_of(fault)
    experiment_id, template_id = state.get("fis_experiment_id"), state.get("fis_template_id")
    if experiment_id:
        try:
            experiment = fis.get_experiment(id=experiment_id)["experiment"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            experiment = None
        if experiment is not None:
            if stop and experiment.get("state", {}).get("status") not in TERMINAL:
                fis.stop_experiment(id=experiment_id)
            experiment = wait(fis, experiment_id, lambda e: e.get("state", {}).get("status") in TERMINAL,
                              "the experiment to end", settings)
            for timing in action_times(experiment):
                note(fault, "fis_action", experiment_id=experiment_id, action=timing.name, action_id=timing.action_id,
                              status=timing.status, reason=timing.reason,
                              started_at=timing.started_at.isoformat() if timing.started_at else None,
                              ended_at=timing.ended_at.isoformat() if timing.ended_at else None)
    if template_id:
        try:
            fis.delete_experiment_template(id=template_id)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise


def planned_rollback(state: Mapping[str, Any], stop: bool) -> tuple[list[Call], str]:
    region = state.get("fis_region") or state["region"]
    calls = []
    if stop:
        calls.append(Call("fis", region, "StopExperiment", {"id": state.get("fis_experiment_id")}))
    calls.append(Call("fis", region, "DeleteExperimentTemplate", {"id": state.get("fis_template_id")}))
    waits = "stops nothing: the reboot runs to its end; " if not stop else ""
    return calls, f"{waits}waits for the experiment to end (GetExperiment) and records its action timestamps"
