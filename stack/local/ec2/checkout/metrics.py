"""Checkout's own request latency, published to CloudWatch off the request path.

An ASGI layer times every HTTP request (monotonic clock, from the request's arrival to the end of
its response) and appends (wall second, latency, status) to a bounded deque: O(1) on the request
path, nothing else. A daemon thread sends the batch every ``flush_s`` with one PutMetricData call
(namespace SecureCart/Checkout; ``ServerLatency`` in Milliseconds as Values/Counts, ``ServerRequests``
and ``ServerErrors`` (5xx) in Count; dimensions Region and InstanceId; high resolution).

The call is CloudWatch's JSON protocol signed with SigV4 by botocore's signer alone (no service
model is loaded, so the process stays small), to the endpoint given with ``--metrics-endpoint``.
A failed send is logged and counted, never raised; when the deque is full the oldest requests are
dropped (and counted) rather than memory growing.
"""
from __future__ import annotations

import collections
import json
import logging
import time
import urllib.request
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from base.metricbatch import latency_histograms, sender

NAMESPACE = "SecureCart/Checkout"
MAX_PENDING = 50_000
log = logging.getLogger("gameday.ec2.checkout.metrics")


class Recorder:
    """The requests seen since the last flush, and the thread that publishes them."""

    def __init__(self, endpoint: str, region: str, instance_id: str, flush_s: float) -> None:
        self.endpoint, self.region, self.instance_id, self.flush_s = endpoint.rstrip("/"), region, instance_id, flush_s
        self._pending: collections.deque[tuple[int, float, int]] = collections.deque(maxlen=MAX_PENDING)
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self._sender = sender(self.flush, flush_s, "checkout-metrics")

    def record(self, wall_s: float, latency_ms: float, status: int) -> None:
        if len(self._pending) == MAX_PENDING:
            self.dropped += 1
        self._pending.append((int(wall_s), latency_ms, status))

    def start(self) -> "Recorder":
        self._sender.start()
        return self

    def stop(self) -> None:
        self._sender.stop(join_s=5)

    def flush(self) -> None:
        batch = []
        while self._pending:
            batch.append(self._pending.popleft())
        if not batch:
            return
        try:
            self._send(metric_data(batch, self.region, self.instance_id))
            self.sent += len(batch)
        except Exception as error:  # noqa: BLE001 - metrics must never take checkout down
            self.failures += 1
            log.warning("PutMetricData of %d requests failed: %s", len(batch), error)

    def _send(self, data: list[dict[str, Any]]) -> None:
        from botocore.auth import SigV4Auth  # the signer only: no service model is loaded
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        body = json.dumps({"Namespace": NAMESPACE, "MetricData": data}).encode()
        request = AWSRequest("POST", self.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.0", "x-amzn-query-mode": "true",
            "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData"})
        # Dummy credentials: the local endpoint takes any; real ones must never be sent to it.
        SigV4Auth(Credentials("checkout", "checkout"), "monitoring", self.region).add_auth(request)
        prepared = urllib.request.Request(self.endpoint + "/", data=body, method="POST", headers=dict(request.headers))
        with urllib.request.urlopen(prepared, timeout=5) as response:
            response.read()


def metric_data(batch: list[tuple[int, float, int]], region: str, instance_id: str) -> list[dict[str, Any]]:
    """Per second: ServerLatency (Values/Counts), ServerRequests and ServerErrors (5xx)."""
    by_second: dict[int, list[tuple[float, int]]] = collections.defaultdict(list)
    for second, latency_ms, status in batch:
        by_second[second].append((latency_ms, status))
    dimensions = [{"Name": "Region", "Value": region}, {"Name": "InstanceId", "Value": instance_id}]
    data: list[dict[str, Any]] = []
    for second, seen in sorted(by_second.items()):
        common = {"Dimensions": dimensions, "Timestamp": second, "StorageResolution": 1}
        for values, counts in latency_histograms(latency_ms for latency_ms, _ in seen):
            data.append({"MetricName": "ServerLatency", "Unit": "Milliseconds", "Values": values, "Counts": counts,
                         **common})
        data.append({"MetricName": "ServerRequests", "Unit": "Count", "Value": float(len(seen)), **common})
        data.append({"MetricName": "ServerErrors", "Unit": "Count",
                     "Value": float(sum(1 for _, status in seen if status >= 500)), **common})
    return data


class RequestMetrics:
    """ASGI layer: time each HTTP request and hand it to the recorder (an append; nothing is sent here)."""

    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app, self.recorder = app, recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, wall = time.monotonic(), time.time()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.recorder.record(wall, (time.monotonic() - began) * 1000, status)
