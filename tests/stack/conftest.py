"""Fixtures shared by the builder's tests on moto."""
from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from stack.local.controlplane.rds import fix_cross_region_replicas


@pytest.fixture
def client() -> Iterator[Any]:
    """A client factory ``client(service, region)`` on moto in this process (moto's RDS cross-Region replicas fixed)."""
    fix_cross_region_replicas()
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        yield lambda service, region: session.client(service, region_name=region)
