"""The probes' CloudWatch metrics: per second, per Region and per vantage point; sent per Region, in batches."""
from __future__ import annotations

from typing import Any

from probes.metrics import NAMESPACE, Observation, Publisher, metric_data


def test_latency_errors_and_requests_per_region_and_vantage_point() -> None:
    seen = [Observation(100.2, "us-east-1", "virginia", 12.0, True), Observation(100.7, "us-east-1", "virginia", 12.0, True),
            Observation(100.9, "us-east-1", "oregon", None, False)]
    data = metric_data(seen)
    by_key = {(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])): d for d in data}
    region = (("Region", "us-east-1"),)
    assert by_key[("Latency", region)]["Values"] == [12.0] and by_key[("Latency", region)]["Counts"] == [2.0]
    assert by_key[("Requests", region)]["Value"] == 3.0 and by_key[("Errors", region)]["Value"] == 1.0
    oregon = region + (("VantagePoint", "oregon"),)
    assert ("Latency", oregon) not in by_key and by_key[("Errors", oregon)]["Value"] == 1.0
    assert all(d["StorageResolution"] == 1 and d["Timestamp"].timestamp() == 100 for d in data)


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        assert Namespace == NAMESPACE and len(MetricData) <= 1000
        self.calls.append((Namespace, len(MetricData)))


def test_flush_sends_to_the_serving_region_and_unknown_to_home() -> None:
    clients: dict[str, FakeCloudWatch] = {}
    publisher = Publisher(lambda region: clients.setdefault(region, FakeCloudWatch()), 60,
                          frozenset({"us-east-1", "eu-central-1"}), "us-east-1")
    publisher.record(Observation(5.0, "eu-central-1", "frankfurt", 30.0, True))
    publisher.record(Observation(5.0, "unknown", "frankfurt", None, False))
    assert publisher.flush() == 6 + 4  # a failed request has no Latency
    assert sorted(clients) == ["eu-central-1", "us-east-1"]
    assert publisher.sent == 10 and publisher.failures == 0 and not publisher.pending


def test_a_failed_send_is_counted_not_raised() -> None:
    def broken(region: str) -> Any:
        raise ConnectionError("endpoint down")

    publisher = Publisher(broken, 60, frozenset({"us-east-1"}), "us-east-1")
    publisher.record(Observation(5.0, "us-east-1", "virginia", 30.0, True))
    publisher.flush()
    assert publisher.failures == 1


def test_the_dashboard_has_latency_and_errors_per_region() -> None:
    import json

    import boto3
    from moto import mock_aws

    from probes.metrics import put_dashboard

    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="testing",
                                  aws_secret_access_key="testing")
        name = put_dashboard(cloudwatch, "local", ["us-east-1", "eu-central-1"])
        body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert name == "gameday-local"
    assert titles == ["Checkout p95 latency, us-east-1", "Checkout requests and errors, us-east-1",
                      "Checkout p95 latency, eu-central-1", "Checkout requests and errors, eu-central-1"]
    assert body["widgets"][0]["properties"]["metrics"] == [[NAMESPACE, "Latency", "Region", "us-east-1"]]
