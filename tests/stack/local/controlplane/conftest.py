"""An in-process endpoint serving the control plane alone (no data planes), and raw signed calls."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.ec2.models import ec2_backends

from stack.local.controlplane.app import ControlPlane
from stack.local.controlplane.backends import ACCOUNT_ID
from stack.local.endpoint import AwsEndpoint
from stack.local.part import LOCAL_CREDENTIALS
from tests.conftest import worker_index


@pytest.fixture(scope="module")
def edge() -> Iterator[AwsEndpoint]:
    # moto's backends live as long as the process, and an earlier test's moto (the serial suite's order:
    # the IAM scenario's mock_aws) can leave EC2 backends whose default VPCs are moto's own 172.31.0.0/16,
    # made before any control plane installed the loopback layout. Start EC2 afresh, as a stack's new process does.
    ec2_backends.pop(ACCOUNT_ID, None)
    server = AwsEndpoint(ControlPlane(), f"127.0.{worker_index() + 20}.3", 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def edge_client(edge: AwsEndpoint) -> Any:
    session = boto3.session.Session(region_name="us-east-1", **LOCAL_CREDENTIALS)
    return lambda service, region="us-east-1": session.client(service, region_name=region, endpoint_url=edge.url)


def signed(endpoint: AwsEndpoint, service: str, method: str, path: str, body: bytes = b"",
           headers: dict[str, str] | None = None, region: str = "us-east-1") -> requests.Response:
    """A request signed with SigV4 for ``service``, as a non-boto3 client could send it."""
    request = AWSRequest(method, endpoint.url + path, data=body, headers=headers or {})
    SigV4Auth(Credentials("testing", "testing"), service, region).add_auth(request)
    return requests.request(method, endpoint.url + path, data=body, headers=dict(request.headers), timeout=30)


FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
