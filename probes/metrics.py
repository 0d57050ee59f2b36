"""The probes' CloudWatch metrics: checkout latency and errors per Region and per vantage point.

During a game day every checkout sample is also published with PutMetricData in the namespace
``SecureCart/Checkout``, so alarms (stop conditions, Route 53 CLOUDWATCH_METRIC checks) and the
dashboard see what the users see:

- ``Latency`` (Milliseconds, as Values/Counts so percentiles such as p95 work; how long the user
  waited, failed requests included) and ``Requests`` and ``Errors`` (Count), each with the
  dimensions {Region} and {Region, VantagePoint};
- high resolution (StorageResolution 1), timestamped with the sample's own wall time;
- sent to CloudWatch in the Region that served (metrics are regional, as the alarms on them), or in
  ``home_region`` when no Region is known (a request that failed before it had an address).

Samples are batched and sent by a background thread every ``flush_s``, never on the probe's path,
and a failed send is counted (``failures``) and logged, never raised: metrics must not break a probe.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from base.metricbatch import latency_histograms, sender

NAMESPACE = "SecureCart/Checkout"
MAX_METRICS_PER_CALL = 1000  # PutMetricData's limit
log = logging.getLogger("gameday.probes.metrics")


@dataclass(frozen=True)
class Observation:
    wall_time: float  # epoch seconds
    region: str  # the Region that served (or was tried): "unknown" when not even an address was had
    vantage: str
    latency_ms: float | None  # None: not measured
    ok: bool


@dataclass
class Publisher:
    """Batches observations; ``flush`` (or the thread every ``flush_s``) sends them to CloudWatch."""

    cloudwatch: Callable[[str], Any]  # Region -> a boto3 CloudWatch client (called on the publishing thread)
    flush_s: float
    regions: frozenset[str]
    home_region: str
    pending: list[Observation] = field(default_factory=list)
    sent: int = 0
    failures: int = 0
    regions_sent: set[str] = field(default_factory=set)
    first_s: float | None = None  # the earliest and latest observation's wall time
    last_s: float | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sender = sender(self.flush, self.flush_s, "metrics-publisher")

    def record(self, observation: Observation) -> None:
        with self._lock:
            self.pending.append(observation)
            self.first_s = min(self.first_s or observation.wall_time, observation.wall_time)
            self.last_s = max(self.last_s or observation.wall_time, observation.wall_time)

    def start(self) -> "Publisher":
        self._sender.start()
        return self

    def stop(self) -> None:
        """Send what is left, then stop the thread."""
        self._sender.stop(join_s=30)

    def flush(self) -> int:
        """Send every pending observation; the number of metric data sent."""
        with self._lock:
            batch, self.pending = self.pending, []
        by_region: dict[str, list[Observation]] = defaultdict(list)
        for seen in batch:
            by_region[seen.region if seen.region in self.regions else self.home_region].append(seen)
        total = 0
        for region, observations in sorted(by_region.items()):
            data = metric_data(observations)
            total += len(data)
            for start in range(0, len(data), MAX_METRICS_PER_CALL):
                chunk = data[start:start + MAX_METRICS_PER_CALL]
                try:
                    self.cloudwatch(region).put_metric_data(Namespace=NAMESPACE, MetricData=chunk)
                    self.sent += len(chunk)
                    self.regions_sent.add(region)
                except Exception as error:  # noqa: BLE001 - metrics must never break the probe they describe
                    self.failures += 1
                    log.warning("PutMetricData of %d metric data to %s failed: %s", len(chunk), region, error)
        return total


def metric_data(observations: list[Observation]) -> list[dict[str, Any]]:
    """The MetricData for ``observations``: per second, per dimension set, Latency (Values/Counts), Requests, Errors."""
    Dimensions = tuple[tuple[str, str], ...]
    groups: dict[tuple[int, Dimensions], list[Observation]] = defaultdict(list)
    for one in observations:
        sets: tuple[Dimensions, Dimensions] = ((("Region", one.region),),
                                               (("Region", one.region), ("VantagePoint", one.vantage)))
        for dimension_set in sets:
            groups[(int(one.wall_time), dimension_set)].append(one)
    data: list[dict[str, Any]] = []
    for (second, dimensions), seen in sorted(groups.items()):
        stamp = datetime.fromtimestamp(second, timezone.utc)
        common = {"Dimensions": [{"Name": n, "Value": v} for n, v in dimensions], "Timestamp": stamp,
                  "StorageResolution": 1}
        for values, counts in latency_histograms(one.latency_ms for one in seen if one.latency_ms is not None):
            data.append({"MetricName": "Latency", "Unit": "Milliseconds", "Values": values, "Counts": counts, **common})
        data.append({"MetricName": "Requests", "Unit": "Count", "Value": float(len(seen)), **common})
        data.append({"MetricName": "Errors", "Unit": "Count", "Value": float(sum(1 for s in seen if not s.ok)), **common})
    return data


def read_series(cloudwatch: Any, region: str, first_s: float, last_s: float) -> list[list[float | None]]:
    """[wall time, p95 ms, requests, errors] per second of ``region``'s checkout, as CloudWatch has them (read-only)."""
    start = datetime.fromtimestamp(int(first_s), timezone.utc)
    end = datetime.fromtimestamp(int(last_s) + 1, timezone.utc)
    dimensions = [{"Name": "Region", "Value": region}]
    common = {"Namespace": NAMESPACE, "Dimensions": dimensions, "StartTime": start, "EndTime": end, "Period": 1}
    latency = cloudwatch.get_metric_statistics(MetricName="Latency", ExtendedStatistics=["p95"], **common)["Datapoints"]
    requests = cloudwatch.get_metric_statistics(MetricName="Requests", Statistics=["Sum"], **common)["Datapoints"]
    errors = cloudwatch.get_metric_statistics(MetricName="Errors", Statistics=["Sum"], **common)["Datapoints"]

    def by_second(points: list[dict[str, Any]], read: Callable[[dict[str, Any]], float]) -> dict[int, float]:
        return {int(p["Timestamp"].timestamp()): read(p) for p in points}

    p95 = by_second(latency, lambda p: float(p["ExtendedStatistics"]["p95"]))
    count = by_second(requests, lambda p: float(p["Sum"]))
    failed = by_second(errors, lambda p: float(p["Sum"]))
    return [[float(t), p95.get(t), count.get(t, 0.0), failed.get(t, 0.0)] for t in sorted(set(p95) | set(count))]


def put_dashboard(cloudwatch: Any, environment: str, regions: list[str]) -> str:
    """Write (or rewrite) the game day's dashboard: checkout p95 latency and errors per Region; its name."""
    name = f"gameday-{environment}"
    widgets = []
    for index, region in enumerate(regions):
        dimension = ["Region", region]
        widgets.append({"type": "metric", "x": 0, "y": 6 * index, "width": 12, "height": 6, "properties": {
            "title": f"Checkout p95 latency, {region}", "region": region, "period": 10, "stat": "p95", "view": "timeSeries",
            "metrics": [[NAMESPACE, "Latency", *dimension]]}})
        widgets.append({"type": "metric", "x": 12, "y": 6 * index, "width": 12, "height": 6, "properties": {
            "title": f"Checkout requests and errors, {region}", "region": region, "period": 10, "stat": "Sum",
            "view": "timeSeries", "metrics": [[NAMESPACE, "Requests", *dimension], [NAMESPACE, "Errors", *dimension]]}})
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps({"widgets": widgets}))
    return name
