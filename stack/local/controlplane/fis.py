"""AWS FIS templates: the checks AWS makes and moto does not, and the action catalogue moto lacks.

moto stores experiment templates (Create/Get/List/Update/Delete, tags) but accepts anything. Before it
stores one, ``CreateExperimentTemplate`` and ``UpdateExperimentTemplate`` are checked here the way FIS
checks them, each refusal a ValidationException naming the field and the value:

- every action is one FIS has (stack.local.fiscatalog), its parameters are known, the required ones
  are given, durations are ISO 8601 within the action's range, enumerated values are allowed;
- an action's targets name targets of the template, under the keys the action takes, of the
  resource type it acts on; every target has a known resource type and a valid selection mode;
- ``startAfter`` names actions of the template and forms no cycle;
- a stop condition is ``none`` or a CloudWatch alarm that exists.

``ListActions``, ``GetAction``, ``ListTargetResourceTypes`` and ``GetTargetResourceType`` are answered
from the catalogue. Experiments are the FIS part's (stack.local.fis), which answers their operations.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from stack.local import fiscatalog
from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse

JSON = {"Content-Type": "application/json"}
_ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):alarm:(?P<name>.+)$")


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _check_parameters(name: str, action: Mapping[str, Any], kind: fiscatalog.ActionType) -> None:
    given = action.get("parameters") or {}
    for key, value in given.items():
        parameter = kind.parameter(key)
        if parameter is None:
            allowed = ", ".join(p.name for p in kind.parameters) or "none"
            raise _invalid(f"actions.{name}.parameters: {key!r} is not a parameter of {kind.id}; allowed: {allowed}")
        if parameter.duration_range_s is not None:
            try:
                seconds = fiscatalog.duration_s(value)
            except ValueError as error:
                raise _invalid(f"actions.{name}.parameters.{key}: {error}") from None
            low, high = parameter.duration_range_s
            if not low <= seconds <= high:
                raise _invalid(f"actions.{name}.parameters.{key}: {value} is outside the allowed range for {kind.id}: "
                               f"{parameter.description}")
        if parameter.values and str(value) not in parameter.values:
            raise _invalid(f"actions.{name}.parameters.{key}: {value!r} is not allowed; allowed: {', '.join(parameter.values)}")
    for parameter in kind.parameters:
        if parameter.required and parameter.name not in given:
            raise _invalid(f"actions.{name}: {kind.id} requires the parameter {parameter.name!r} ({parameter.description})")


def _check_targets(targets: Mapping[str, Any]) -> None:
    for name, target in targets.items():
        kind = target.get("resourceType", "")
        if kind not in fiscatalog.RESOURCE_TYPES:
            raise _invalid(f"targets.{name}.resourceType: {kind!r} is not a target resource type the local stack has; "
                           f"allowed: {', '.join(sorted(fiscatalog.RESOURCE_TYPES))}")
        try:
            fiscatalog.selection(target.get("selectionMode", ""))
        except ValueError as error:
            raise _invalid(f"targets.{name}: {error}") from None
        if not (target.get("resourceArns") or target.get("resourceTags") or target.get("filters")):
            raise _invalid(f"targets.{name}: give resourceArns, resourceTags or filters to say which resources")
        if target.get("resourceArns") and target.get("resourceTags"):
            raise _invalid(f"targets.{name}: resourceArns and resourceTags cannot be used together")
        allowed = fiscatalog.RESOURCE_TYPES[kind].filters
        for index, found in enumerate(target.get("filters") or ()):
            if found.get("path") not in allowed:
                raise _invalid(f"targets.{name}.filters[{index}].path: {found.get('path')!r} is not a filter of {kind}; "
                               f"allowed: {', '.join(allowed) or 'none'}")


def _check_order(actions: Mapping[str, Any]) -> None:
    for name, action in actions.items():
        for before in action.get("startAfter") or ():
            if before not in actions:
                raise _invalid(f"actions.{name}.startAfter: {before!r} is not an action of this template; "
                               f"actions: {', '.join(sorted(actions))}")
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name):] + [name]
            raise _invalid(f"actions: startAfter forms a cycle: {' -> '.join(cycle)}")
        if name in done:
            return
        for before in actions[name].get("startAfter") or ():
            visit(before, path + [name])
        done.add(name)

    for name in actions:
        visit(name, [])


def _check_stop_conditions(conditions: list[Mapping[str, Any]]) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    for index, condition in enumerate(conditions):
        source = condition.get("source")
        if source == "none":
            continue
        if source != "aws:cloudwatch:alarm":
            raise _invalid(f"stopConditions[{index}].source: {source!r} is not allowed; allowed: none, aws:cloudwatch:alarm")
        found = _ALARM_ARN.match(str(condition.get("value") or ""))
        if found is None:
            raise _invalid(f"stopConditions[{index}].value: {condition.get('value')!r} is not a CloudWatch alarm ARN "
                           f"(arn:aws:cloudwatch:<region>:<account>:alarm:<name>)")
        alarms = cloudwatch_backends[backends.ACCOUNT_ID][found["region"]].get_alarms_by_alarm_names([found["name"]])
        if not alarms:
            raise _invalid(f"stopConditions[{index}].value: the alarm {found['name']!r} does not exist in {found['region']}")


def check_template(template: Mapping[str, Any], partial: bool = False) -> None:
    """Raise AwsError (ValidationException) for anything FIS refuses in a template; ``partial``: an update."""
    actions = template.get("actions") or {}
    targets = template.get("targets") or {}
    if not actions and not partial:
        raise _invalid("actions: a template needs at least one action")
    _check_targets(targets)
    for name, action in actions.items():
        kind = fiscatalog.ACTIONS.get(action.get("actionId", ""))
        if kind is None:
            raise _invalid(f"actions.{name}.actionId: {action.get('actionId')!r} is not an action FIS has; "
                           f"the local stack runs: {', '.join(sorted(fiscatalog.ACTIONS))}")
        _check_parameters(name, action, kind)
        for key, target_name in (action.get("targets") or {}).items():
            if key not in kind.targets:
                raise _invalid(f"actions.{name}.targets: {kind.id} takes no target {key!r}; "
                               f"it takes: {', '.join(kind.targets) or 'none'}")
            if not partial and target_name not in targets:
                raise _invalid(f"actions.{name}.targets.{key}: {target_name!r} is not a target of this template; "
                               f"targets: {', '.join(sorted(targets)) or 'none'}")
            if target_name in targets and targets[target_name].get("resourceType") != kind.targets[key]:
                raise _invalid(f"actions.{name}.targets.{key}: target {target_name!r} is of type "
                               f"{targets[target_name].get('resourceType')!r}; {kind.id} acts on {kind.targets[key]}")
        if kind.targets and not action.get("targets") and not partial:
            raise _invalid(f"actions.{name}: {kind.id} needs a target ({', '.join(kind.targets)})")
    _check_order(actions)
    if not partial and not template.get("stopConditions"):
        raise _invalid("stopConditions: give at least one (source none for an experiment without one)")
    _check_stop_conditions(template.get("stopConditions") or [])


def _validate(request: ApiRequest, plane: Any) -> None:
    check_template(request.params, partial=request.operation == "UpdateExperimentTemplate")


VALIDATE = {"CreateExperimentTemplate": _validate, "UpdateExperimentTemplate": _validate}


# -- the catalogue ---------------------------------------------------------------------------------------


def _action_json(kind: fiscatalog.ActionType, region: str, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": kind.id, "arn": f"arn:aws:fis:{region}::action/{kind.id}",
                             "description": kind.description,
                             "targets": {key: {"resourceType": value} for key, value in kind.targets.items()}, "tags": {}}
    if full:
        shown["parameters"] = {p.name: {"description": p.description, "required": p.required} for p in kind.parameters}
    return shown


def _ok(payload: Mapping[str, Any]) -> ApiResponse:
    return ApiResponse(200, json.dumps(payload).encode(), JSON)


def _list_actions(request: ApiRequest, plane: Any) -> ApiResponse:
    return _ok({"actions": [_action_json(k, request.region, False) for k in fiscatalog.ACTIONS.values()]})


def _get_action(request: ApiRequest, plane: Any) -> ApiResponse:
    kind = fiscatalog.ACTIONS.get(unquote(str(request.params.get("id", ""))))
    if kind is None:
        raise AwsError("ResourceNotFoundException", f"Action {request.params.get('id')} not found", 404)
    return _ok({"action": _action_json(kind, request.region, True)})


def _type_json(kind: fiscatalog.ResourceType, full: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"resourceType": kind.id, "description": kind.description}
    if full:
        shown["parameters"] = {path: {"description": f"the resource's {path}", "required": False} for path in kind.filters}
    return shown


def _list_types(request: ApiRequest, plane: Any) -> ApiResponse:
    return _ok({"targetResourceTypes": [_type_json(k, False) for k in fiscatalog.RESOURCE_TYPES.values()]})


def _get_type(request: ApiRequest, plane: Any) -> ApiResponse:
    kind = fiscatalog.RESOURCE_TYPES.get(unquote(str(request.params.get("resourceType", ""))))
    if kind is None:
        raise AwsError("ResourceNotFoundException", f"Target resource type {request.params.get('resourceType')} not found", 404)
    return _ok({"targetResourceType": _type_json(kind, True)})


ANSWER = {"ListActions": _list_actions, "GetAction": _get_action, "ListTargetResourceTypes": _list_types,
          "GetTargetResourceType": _get_type}
