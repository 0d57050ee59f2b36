"""A control plane on a free port with the xray part attached, and X-Ray clients for it."""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from environments import loader
from environments.model import LocalEnvironment
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.part import LOCAL_CREDENTIALS, PartContext
from stack.local.instance import Instance
from stack.local.xray.part import XRayPart
from tests.conftest import worker_index


class Stack:
    def __init__(self, endpoint: AwsEndpoint, part: XRayPart) -> None:
        self.endpoint, self.part = endpoint, part
        self.url = endpoint.url
        self._session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(self, region: str = "us-east-1") -> Any:
        return self._session.client("xray", region_name=region, endpoint_url=self.url,
                                    config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    plane = ControlPlane(logging.getLogger("test.controlplane"))
    endpoint = AwsEndpoint(plane, f"127.0.{worker_index() + 20}.4", 0)
    endpoint.start()
    part = XRayPart()
    environment = loader.load("local")
    assert isinstance(environment, LocalEnvironment)
    instance = Instance(0, environment)
    context = PartContext(instance, environment, instance.state_dir, logging.getLogger("test.xray"),
                          plane.services, part="xray")
    try:
        part.start(context)
        plane.attach(part)
        yield Stack(endpoint, part)
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()


@pytest.fixture
def xray(stack: Stack) -> Callable[..., Any]:
    return stack.client
