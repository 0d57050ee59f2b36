"""The 503 for a change no part could apply is repeated to the SDK's retries of that call, and to nothing else."""
from __future__ import annotations

import uuid
from typing import Any, Iterator, Mapping

import pytest
import requests

from stack.local.endpoint import AwsEndpoint
from stack.local.part import ApiHandler, Change, ChangeNotApplied
from tests.stack.local.controlplane.conftest import FORM, signed

EC2_VERSION = "Version=2016-11-15"


class _RefusesOneTag:
    """A part that cannot apply a CreateTags carrying the tag key ``unapplied`` (and applies everything else)."""

    name = "refuser"

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        if change.request.operation == "CreateTags" and change.request.params.get("Tag.1.Key") == "unapplied":
            raise ChangeNotApplied(self.name, "this tag is not applied")


@pytest.fixture
def refusing(edge: AwsEndpoint) -> Iterator[str]:
    """The edge with the refusing part attached; yields a VPC id to tag."""
    plane: Any = edge._server.app
    ec2 = signed(edge, "ec2", "POST", "/", f"Action=CreateVpc&{EC2_VERSION}&CidrBlock=127.42.0.0/16".encode(), FORM)
    vpc = ec2.text.split("<vpcId>")[1].split("</vpcId>")[0]
    plane.attach(_RefusesOneTag())
    try:
        yield vpc
    finally:
        plane.detach_all()


def _tag(edge: AwsEndpoint, vpc: str, key: str, invocation: str, region: str = "us-east-1") -> requests.Response:
    body = f"Action=CreateTags&{EC2_VERSION}&ResourceId.1={vpc}&Tag.1.Key={key}&Tag.1.Value=v".encode()
    return signed(edge, "ec2", "POST", "/", body, {**FORM, "amz-sdk-invocation-id": invocation}, region=region)


def test_a_retry_of_the_failed_call_gets_the_same_503(edge: AwsEndpoint, refusing: str) -> None:
    invocation = str(uuid.uuid4())
    first, retry = _tag(edge, refusing, "unapplied", invocation), _tag(edge, refusing, "unapplied", invocation)
    assert first.status_code == retry.status_code == 503
    assert "<Code>ServiceUnavailable</Code>" in retry.text and "this tag is not applied" in retry.text


def test_other_calls_reusing_the_invocation_id_are_served(edge: AwsEndpoint, refusing: str) -> None:
    # Before: the 503 was remembered by the invocation id alone, so a client reusing the id got it
    # for every later call, whatever it was.
    invocation = str(uuid.uuid4())
    assert _tag(edge, refusing, "unapplied", invocation).status_code == 503
    other_input = _tag(edge, refusing, "applied", invocation)
    assert other_input.status_code == 200, other_input.text
    other_operation = signed(edge, "ec2", "POST", "/", f"Action=DescribeVpcs&{EC2_VERSION}".encode(),
                             {**FORM, "amz-sdk-invocation-id": invocation})
    assert other_operation.status_code == 200 and refusing in other_operation.text
