"""moto-backed clients that record every call, and a journal in a temporary directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from gameday.journal import Journal


class Recorder:
    """Clients whose calls are recorded as (service, operation, params): the exact AWS path a fault takes."""

    def __init__(self) -> None:
        self.session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self.fail_on: str | None = None

    def __call__(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            client = self.session.client(service, region_name=region)
            client.meta.events.register("provide-client-params.*.*", self._record)
            self._clients[key] = client
        return self._clients[key]

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))
        if self.fail_on == model.name:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "Throttling", "Message": "injected for the test"}}, model.name)

    def mutating(self) -> list[str]:
        return [op for _, op, _ in self.calls if not op.startswith(("Describe", "Get", "List"))]


@pytest.fixture
def clients() -> Iterator[Recorder]:
    with mock_aws():
        yield Recorder()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal("test-target", tmp_path / "journal")
