"""Templates are checked as FIS checks them (ValidationException naming the field); the catalogue answers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.stack.local.fis.conftest import Stack

ROLE = "arn:aws:iam::123456789012:role/fis"


def template(actions: dict[str, Any], targets: dict[str, Any] | None = None,
             stop_conditions: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"description": "test", "roleArn": ROLE, "actions": actions, "targets": targets or {},
            "stopConditions": stop_conditions or [{"source": "none"}]}


def refused(stack: Stack, body: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as raised:
        stack.client("fis").create_experiment_template(**body)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    return str(raised.value.response["Error"]["Message"])


def test_an_unknown_action_is_refused_naming_it(stack: Stack) -> None:
    message = refused(stack, template({"a": {"actionId": "aws:ec2:melt-instances"}}))
    assert "actions.a.actionId" in message and "aws:ec2:melt-instances" in message


def test_a_start_after_cycle_is_refused_naming_the_cycle(stack: Stack) -> None:
    wait = {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}
    message = refused(stack, template({"a": {**wait, "startAfter": ["b"]}, "b": {**wait, "startAfter": ["a"]}}))
    assert "cycle" in message and ("a -> b -> a" in message or "b -> a -> b" in message)


@pytest.mark.parametrize("duration", ["PT30S", "PT13H", "5 minutes"])
def test_a_duration_outside_the_range_is_refused(stack: Stack, duration: str) -> None:
    message = refused(stack, template({"a": {"actionId": "aws:fis:wait", "parameters": {"duration": duration}}}))
    assert "actions.a.parameters.duration" in message and duration in message


def test_a_stop_condition_naming_a_missing_alarm_is_refused(stack: Stack) -> None:
    message = refused(stack, template({"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}},
                                      stop_conditions=[{"source": "aws:cloudwatch:alarm",
                                                        "value": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:nope"}]))
    assert "nope" in message and "does not exist" in message


def test_an_action_target_of_the_wrong_type_is_refused(stack: Stack) -> None:
    message = refused(stack, template(
        {"a": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "s"}}},
        {"s": {"resourceType": "aws:ec2:subnet", "resourceTags": {"k": "v"}, "selectionMode": "ALL"}}))
    assert "aws:ec2:instance" in message


def test_a_bad_selection_mode_is_refused(stack: Stack) -> None:
    message = refused(stack, template(
        {"a": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "i"}}},
        {"i": {"resourceType": "aws:ec2:instance", "resourceTags": {"k": "v"}, "selectionMode": "PERCENT(0)"}}))
    assert "PERCENT(0)" in message


def test_a_valid_template_is_stored_and_listed(stack: Stack) -> None:
    fis = stack.client("fis")
    created = fis.create_experiment_template(**template({"a": {"actionId": "aws:fis:wait",
                                                               "parameters": {"duration": "PT1M"}}}))
    identifier = created["experimentTemplate"]["id"]
    assert fis.get_experiment_template(id=identifier)["experimentTemplate"]["actions"]["a"]["actionId"] == "aws:fis:wait"
    assert identifier in {t["id"] for t in fis.list_experiment_templates()["experimentTemplates"]}
    fis.delete_experiment_template(id=identifier)
    with pytest.raises(ClientError) as raised:
        fis.get_experiment_template(id=identifier)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_catalogue_lists_and_describes_actions_and_resource_types(stack: Stack) -> None:
    fis = stack.client("fis")
    assert "aws:network:disrupt-connectivity" in {a["id"] for a in fis.list_actions()["actions"]}
    action = fis.get_action(id="aws:ec2:stop-instances")["action"]
    assert action["targets"] == {"Instances": {"resourceType": "aws:ec2:instance"}}
    assert action["parameters"]["startInstancesAfterDuration"]["required"] is False
    assert "aws:rds:db" in {t["resourceType"] for t in fis.list_target_resource_types()["targetResourceTypes"]}
    described = fis.get_target_resource_type(resourceType="aws:ec2:subnet")["targetResourceType"]
    assert "AvailabilityZone" in described["parameters"]
    with pytest.raises(ClientError) as raised:
        fis.get_action(id="aws:ec2:melt")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("name", ["az-power-interruption.json", "cross-region-connectivity.json"])
def test_the_examples_are_accepted_as_they_are(stack: Stack, name: str) -> None:
    path = Path(__file__).parents[4] / "examples" / "fis" / name
    fis = stack.client("fis")
    created = fis.create_experiment_template(**json.loads(path.read_text()))["experimentTemplate"]
    fis.delete_experiment_template(id=created["id"])
