"""A FIS experiment template file, run as a fault: ``scenario.inject(FisTemplate, path=...)``.

The file is CreateExperimentTemplate's input, exactly what ``aws fis create-experiment-template
--cli-input-json file://...`` takes, so one file drives the AWS CLI and gameday alike, on AWS and on
the local stack. The fault:

1. (guard) resolves the template's targets read-only, as FIS would (ARNs, or tags and filters, before
   the selection mode picks among them), so the guard checks every resource it may touch;
2. creates the template (tagged with the run id and the journal entry; its client token from the entry)
   and starts an experiment, journaling each id first; waits until every action has started (an
   action that waits on ``startAfter`` counts once its predecessors ran) or the experiment ended;
3. on rollback, stops the experiment if it is still running (FIS undoes its actions), waits for its
   end, records each action's state and times on the timeline, and deletes the template.

``wait_for_end()`` lets an experiment wait for the template's own durations to run out first.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from base import runid
from base.errors import FaultError
from faults import fis
from faults.base import ClientFactory, Fault
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline

POLL_S = 0.25  # GetExperiment while waiting for the actions (well within FIS's API rate limits)
_INPUT_KEYS = frozenset({"clientToken", "description", "stopConditions", "targets", "actions", "roleArn", "tags",
                         "logConfiguration", "experimentOptions", "experimentReportConfiguration"})


class _RepeatedKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: a key given twice is refused (json.loads keeps the last one, silently)."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _RepeatedKey(key)
        document[key] = value
    return document


def load(path: str | Path) -> dict[str, Any]:
    """The template file's CreateExperimentTemplate input. Raises FaultError naming the file and what is wrong."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except OSError as error:
        raise FaultError(f"FIS template {source}: cannot read it ({error.strerror})") from None
    except _RepeatedKey as error:
        raise FaultError(f"FIS template {source}: the key {error.args[0]!r} is given twice in one object; "
                         "a key may appear once") from None
    except ValueError as error:
        raise FaultError(f"FIS template {source}: not JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("actions"), dict) or not document["actions"]:
        raise FaultError(f"FIS template {source}: expected CreateExperimentTemplate's input, a JSON object with "
                         f"'actions' (and 'targets', 'stopConditions', 'roleArn')")
    unknown = sorted(set(document) - _INPUT_KEYS)
    if unknown:
        raise FaultError(f"FIS template {source}: {', '.join(unknown)} not CreateExperimentTemplate input; "
                         f"allowed: {', '.join(sorted(_INPUT_KEYS))}")
    return document


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items or []}


def _attribute(resource: Mapping[str, Any], path: str) -> str:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)


class FisTemplate(Fault):
    """Run the FIS experiment template in ``path`` in ``region``."""

    name = "fis.template"

    def __init__(self, clients: ClientFactory, journal: Journal, *, path: str | Path, region: str = "us-east-1",
                 timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.path, self.region = str(path), region
        self.document = load(path)

    def params(self) -> dict[str, Any]:
        return {"path": self.path, "region": self.region}

    # -- the guard's view: every resource the targets may select ---------------------------------

    def discover(self, caller: Caller) -> list[Resource]:
        found: list[Resource] = []
        for target in (self.document.get("targets") or {}).values():
            candidates = self._candidates(target, caller)
            wanted = target.get("resourceTags") or {}
            found += [resource for resource, described in candidates
                      if all(resource.tags.get(k) == v for k, v in wanted.items())
                      and all(_attribute(described, f["path"]) in f.get("values", []) for f in target.get("filters") or ())]
        return found

    def _candidates(self, target: Mapping[str, Any], caller: Caller) -> list[tuple[Resource, Mapping[str, Any]]]:
        kind, region = target.get("resourceType"), self.region
        ids = [arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for arn in target.get("resourceArns") or []]
        if kind == "aws:ec2:instance":
            ec2 = self.clients("ec2", region)
            pages = ec2.get_paginator("describe_instances").paginate(**({"InstanceIds": ids} if ids else {}))
            return [(Resource(f"arn:{caller.partition}:ec2:{region}:{r['OwnerId']}:instance/{i['InstanceId']}",
                              i["InstanceId"], region, _tags(i.get("Tags"))), i)
                    for page in pages for r in page["Reservations"] for i in r["Instances"]]
        if kind == "aws:ec2:subnet":
            subnets = self.clients("ec2", region).describe_subnets(**({"SubnetIds": ids} if ids else {}))["Subnets"]
            return [(Resource(s.get("SubnetArn") or f"arn:{caller.partition}:ec2:{region}:{s['OwnerId']}:subnet/{s['SubnetId']}",
                              s["SubnetId"], region, _tags(s.get("Tags"))), s) for s in subnets]
        if kind == "aws:rds:db":
            rds = self.clients("rds", region)
            described = [db for identifier in ids or [""] for db in rds.describe_db_instances(
                **({"DBInstanceIdentifier": identifier} if identifier else {}))["DBInstances"]]
            return [(Resource(db["DBInstanceArn"], db["DBInstanceIdentifier"], region, _tags(
                db.get("TagList") or rds.list_tags_for_resource(ResourceName=db["DBInstanceArn"])["TagList"])), db)
                for db in described]
        # Other types (global tables, virtual interfaces): their ARNs, with the tags the guard can read.
        return [(Resource(arn, arn.rsplit("/", 1)[-1], region, {}), {}) for arn in target.get("resourceArns") or []]

    # -- inject and roll back ----------------------------------------------------------------------

    def inject(self, entry: Entry) -> None:
        assert self.entry is not None
        fis_client = self.clients("fis", self.region)
        document = {k: v for k, v in self.document.items() if k != "clientToken"}
        tags = {**(document.pop("tags", None) or {}), "gameday:fault": entry.id, runid.TAG: self.run_id}
        created = fis_client.create_experiment_template(clientToken=f"{entry.id}-template", tags=tags, **document)
        template_id = created["experimentTemplate"]["id"]
        self.journal.progress(entry, fis_region=self.region, fis_template_id=template_id)
        started = fis_client.start_experiment(clientToken=f"{entry.id}-experiment", experimentTemplateId=template_id,
                                              tags=tags)
        experiment_id = started["experiment"]["id"]
        self.journal.progress(entry, fis_experiment_id=experiment_id)
        if self.planning:
            return
        experiment = self._wait(experiment_id, self._all_started, "every action to start")
        state = experiment.get("state", {})
        if state.get("status") in ("failed", "stopped"):
            raise FaultError(f"{self.name} {self.path}: experiment {experiment_id} ended {state.get('status')} before its "
                             f"actions ran: {state.get('reason', '')} {state.get('error') or ''}".rstrip())
        fis.note(self, "fis_experiment_started", experiment_id=experiment_id, template_id=template_id,
                     actions=sorted(experiment.get("actions", {})))

    def _wait(self, experiment_id: str, done: Callable[[Mapping[str, Any]], bool], awaiting: str) -> Mapping[str, Any]:
        # Polled every POLL_S rather than FIS settings' poll_s: a local experiment's actions last seconds.
        settings = dataclasses.replace(fis.settings_of(self), poll_s=min(POLL_S, fis.settings_of(self).poll_s))
        return fis.wait(self.clients("fis", self.region), experiment_id, done, awaiting, settings)

    @staticmethod
    def _all_started(experiment: Mapping[str, Any]) -> bool:
        """Every action has started, except those still waiting for their ``startAfter`` (or the experiment ended)."""
        if experiment.get("state", {}).get("status") in fis.TERMINAL:
            return True
        actions = experiment.get("actions", {})

        def status(name: str) -> str:
            return str(actions.get(name, {}).get("state", {}).get("status", ""))

        # An action is "initiating" until its effect is in place; one waiting for its startAfter is "pending".
        return not any(status(name) == "initiating" or status(name) == "pending" and all(
            status(b) in ("completed", "skipped") for b in a.get("startAfter") or ()) for name, a in actions.items())

    def experiment(self) -> Mapping[str, Any]:
        """GetExperiment's answer for the running experiment."""
        assert self.entry is not None
        found: Mapping[str, Any] = self.clients("fis", self.region).get_experiment(
            id=self.entry.state["fis_experiment_id"])["experiment"]
        return found

    def wait_for_end(self) -> Mapping[str, Any]:
        """Wait until the experiment ends by itself (its actions' durations). Raises FaultError if it did not complete."""
        assert self.entry is not None
        ended = self._wait(self.entry.state["fis_experiment_id"],
                           lambda e: e.get("state", {}).get("status") in fis.TERMINAL, "the experiment to end")
        state = ended.get("state", {})
        if state.get("status") != "completed":
            raise FaultError(f"{self.name} {self.path}: experiment {ended.get('id')} ended {state.get('status')}: "
                             f"{state.get('reason', '')}")
        return ended

    def rollback(self, state: dict[str, Any]) -> None:
        if state.get("fis_template_id") is None:
            return  # killed before anything was created
        fis.rollback(self, state, stop=True)

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        return fis.planned_rollback(state, stop=True)
