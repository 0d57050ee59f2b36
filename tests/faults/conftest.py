"""moto-backed clients that record every call, a journal in a temporary directory, and a guard in force."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Iterator

import boto3
import botocore.session
import pytest
from moto import mock_aws

from environments.model import StopCondition
from faults import guard as guard_
from faults.guard import FisSettings, Guard, Policy
from faults.journal import Journal
from base.operations import is_read_only

MOTO_ACCOUNT = "123456789012"
STACK_TAG = ("gameday:stack", "securecart")
REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1")


@functools.cache
def _session() -> boto3.session.Session:
    # One session per process: its botocore session caches the service models, which take a second each to
    # load. One boto3 Session too: each registers boto3's handlers on the botocore session it is given, and
    # S3's handler, registered twice, fails the creation of every S3 client class.
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 botocore_session=botocore.session.get_session())


class Recorder:
    """Clients whose calls are recorded as (service, operation, params): the exact AWS path a fault takes."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.session = _session()
        self.endpoint_url = endpoint_url  # None: moto's mock; the local stack's endpoint otherwise
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self.fail_on: str | None = None  # fail this operation with Throttling...
        self.fail_skip = 0  # ...after letting this many calls of it through...
        self.fail_times: int | None = None  # ...this many times (None: every time)
        self.wire: list[str] = []  # operations whose request was actually sent, in order
        self.forbid_mutations = False  # when set, a mutating request fails before it is sent

    def __call__(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            client = self.session.client(service, region_name=region, endpoint_url=self.endpoint_url)
            client.meta.events.register("provide-client-params.*.*", self._record)
            client.meta.events.register_first("before-send.*.*", self._sending)
            self._clients[key] = client
        return self._clients[key]

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))
        if self.fail_on == model.name:
            if self.fail_skip > 0:
                self.fail_skip -= 1
                return
            if self.fail_times is not None:
                self.fail_times -= 1
                if self.fail_times <= 0:
                    self.fail_on = None
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "Throttling", "Message": "injected for the test"}}, model.name)

    def _sending(self, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.wire.append(operation)
        if self.forbid_mutations and not is_read_only(operation):
            raise AssertionError(f"{operation} reached the wire while mutations are forbidden")

    def mutating(self) -> list[str]:
        return [op for _, op, _ in self.calls if not is_read_only(op)]

    def mutating_calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [call for call in self.calls if not is_read_only(call[1])]


def policy(**changes: Any) -> Policy:
    """The rules of a moto account: the local environment's account and Regions, the stack tag as target tag."""
    defaults: dict[str, Any] = dict(environment="moto", account_id=MOTO_ACCOUNT, regions=REGIONS, target_tag=STACK_TAG,
                                    watch_interval_s=0.02, fis=FisSettings(poll_s=0.01, timeout_s=10),
                                    run_id="20250101T000000Z-test01")
    return Policy(**{**defaults, **changes})


def alarm(clients: Recorder, name: str = "checkout-5xx", region: str = "us-east-1") -> StopCondition:
    """A CloudWatch alarm in OK, as a stop condition."""
    clients("cloudwatch", region).put_metric_alarm(
        AlarmName=name, MetricName="5XXError", Namespace="SecureCart", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=10, ComparisonOperator="GreaterThanThreshold")
    clients("cloudwatch", region).set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    return StopCondition(alarm_name=name, region=region)


@pytest.fixture
def clients() -> Iterator[Recorder]:
    with mock_aws():
        yield Recorder()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal("test-target", tmp_path / "journal")


@pytest.fixture
def guard(clients: Recorder) -> Iterator[Guard]:
    """The guard in force for faults given none (what the plugin does for a session)."""
    with guard_.installed(Guard(policy())) as installed:
        yield installed
