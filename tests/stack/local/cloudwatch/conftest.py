"""A control plane on a free port with the cloudwatch part attached (time_scale 0.1), and boto3 clients."""
from __future__ import annotations

import logging
import socket
import uuid
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

from environments import loader
from environments.model import LocalEnvironment, LocalSettings
from stack.local.cloudwatch.part import CloudWatchPart
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS, PartContext


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    def __init__(self, plane: ControlPlane, part: CloudWatchPart, endpoint_url: str) -> None:
        self.plane, self.part, self.endpoint_url = plane, part, endpoint_url
        self._session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(self, service: str = "cloudwatch", region: str = "us-east-1") -> Any:
        return self._session.client(service, region_name=region, endpoint_url=self.endpoint_url,
                                    config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    port = free_port()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port), "time_scale": 0.1})
    instance = Instance(0, environment)
    plane = ControlPlane(logging.getLogger("test.controlplane"), instance=instance)
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    part = CloudWatchPart()
    context = PartContext(instance, environment, instance.state_dir, logging.getLogger("test.cloudwatch"),
                          plane.services, part="cloudwatch")
    try:
        part.start(context)
        plane.attach(part)
        yield Stack(plane, part, f"http://127.0.0.1:{port}")
    finally:
        plane.detach_all()
        part.stop()
        endpoint.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
