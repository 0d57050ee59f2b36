"""AWS-state probes read what AWS reports, where AWS reports it (moto stands in for AWS here)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from probes import state


@pytest.fixture
def clients() -> Iterator[Any]:
    with mock_aws():
        made: dict[tuple[str, str], Any] = {}

        def client(service: str, region: str) -> Any:
            if (service, region) not in made:
                made[(service, region)] = boto3.client(service, region_name=region, aws_access_key_id="testing",
                                                       aws_secret_access_key="testing")
            return made[(service, region)]

        yield client


def publish(clients: Any, identifier: str, value: float, at: datetime) -> None:
    clients("cloudwatch", "ap-southeast-1").put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "ReplicaLag", "Unit": "Seconds", "Value": value, "Timestamp": at,
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": identifier}]}])


def test_replica_lag_is_the_newest_cloudwatch_datapoint(clients: Any) -> None:
    now = datetime.now(timezone.utc)
    publish(clients, "orders-replica", 7.0, now - timedelta(minutes=3))
    publish(clients, "orders-replica", 2.0, now - timedelta(seconds=5))
    publish(clients, "other-replica", 99.0, now - timedelta(seconds=5))
    assert state.replica_lag_s(clients, "ap-southeast-1", "orders-replica") == 2.0


def test_no_datapoint_in_the_window_is_none_and_a_failed_sample(clients: Any) -> None:
    publish(clients, "orders-replica", 4.0, datetime.now(timezone.utc) - timedelta(minutes=20))
    assert state.replica_lag_s(clients, "ap-southeast-1", "orders-replica", within_s=300) is None
    sample = state.lag_sampler(clients, "ap-southeast-1", "orders-replica", 1.0).take()
    assert not sample.ok and sample.value is None


def test_minus_one_means_not_replicating(clients: Any) -> None:
    publish(clients, "orders-replica", -1.0, datetime.now(timezone.utc))
    sample = state.lag_sampler(clients, "ap-southeast-1", "orders-replica", 1.0).take()
    assert sample.value == -1.0 and not sample.ok
