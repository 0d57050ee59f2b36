"""A control plane on a free port whose new replicas are ACTIVE at once, for the catalog's tests."""
from __future__ import annotations

import logging
import socket
from typing import Any, Iterator

import boto3
import pytest

from environments import loader
from environments.model import DynamoDbSettings, LocalEnvironment, LocalSettings
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint_url() -> Iterator[str]:
    port = free_port()
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    environment = base.model_copy(update={"local": LocalSettings(aws_endpoint_port=port),
                                          "dynamodb": DynamoDbSettings(replica_creation_s=0.0)})
    plane = ControlPlane(logging.getLogger("test.catalog"), instance=Instance(0, environment))
    endpoint = AwsEndpoint(plane, "127.0.0.1", port)
    endpoint.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        endpoint.stop()


@pytest.fixture(scope="module")
def clients(endpoint_url: str) -> Any:
    session = boto3.session.Session(**LOCAL_CREDENTIALS)
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in made:
            made[(service, region)] = session.client(service, region_name=region, endpoint_url=endpoint_url)
        return made[(service, region)]

    return client
