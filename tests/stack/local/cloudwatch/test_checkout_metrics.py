"""Checkout's own request latency reaches CloudWatch: timed by an ASGI layer, sent in batches, SigV4-signed."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from stack.local.ec2.checkout import metrics
from tests.stack.local.cloudwatch.conftest import Stack, unique


async def _slow_app(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(0.02)
    await send({"type": "http.response.start", "status": 503, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_requests_are_timed_and_published_per_instance(stack: Stack) -> None:
    instance = f"i-{unique('x')[-8:]}00000000"
    recorder = metrics.Recorder(stack.endpoint_url, "us-east-1", instance, flush_s=60)
    app = metrics.RequestMetrics(_slow_app, recorder)
    started = time.time()

    async def send(_message: Any) -> None:
        return None

    for _ in range(3):
        asyncio.run(app({"type": "http"}, None, send))
    recorder.flush()
    assert recorder.sent == 3 and recorder.failures == 0
    dimensions = [{"Name": "Region", "Value": "us-east-1"}, {"Name": "InstanceId", "Value": instance}]
    cw = stack.client()
    common: dict[str, Any] = {"Namespace": metrics.NAMESPACE, "Dimensions": dimensions, "Period": 60,
                              "StartTime": started - 2, "EndTime": time.time() + 2}
    [latency] = cw.get_metric_statistics(MetricName="ServerLatency", ExtendedStatistics=["p95"], **common)["Datapoints"]
    assert 20 <= latency["ExtendedStatistics"]["p95"] < 2000
    [errors] = cw.get_metric_statistics(MetricName="ServerErrors", Statistics=["Sum"], **common)["Datapoints"]
    assert errors["Sum"] == 3.0  # every response was a 503


def test_metric_data_per_second_with_values_and_counts() -> None:
    data = metrics.metric_data([(10, 5.0, 200), (10, 5.0, 200), (11, 7.0, 500)], "us-east-1", "i-0123456789abcdef0")
    latency = [d for d in data if d["MetricName"] == "ServerLatency"]
    assert [(d["Timestamp"], d["Values"], d["Counts"]) for d in latency] == [(10, [5.0], [2.0]), (11, [7.0], [1.0])]
    assert [d["Value"] for d in data if d["MetricName"] == "ServerErrors"] == [0.0, 1.0]
