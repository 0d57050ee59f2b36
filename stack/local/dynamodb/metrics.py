"""ReplicationLatency, as DynamoDB publishes it for a global table: to CloudWatch, in the source Region.

Namespace AWS/DynamoDB, metric ReplicationLatency, unit Milliseconds, dimensions TableName and
ReceivingRegion (the replica the write went to), published in the Region the write was made in.
Each measured delivery is one sample: the wall milliseconds from the source write to the moment the
target replica held it (the replicator's measure). The part sends them with PutMetricData through
the local endpoint, batched (``Values`` and ``Counts``) every flush.
"""
from __future__ import annotations

import datetime
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

NAMESPACE = "AWS/DynamoDB"
METRIC = "ReplicationLatency"
MAX_VALUES = 150  # PutMetricData takes at most 150 distinct values per datum (botocore's model: Values)


class LatencyMetric:
    def __init__(self, cloudwatch: Callable[[str], Any], log: logging.Logger) -> None:
        """``cloudwatch(region)``: a CloudWatch client for the local endpoint in that Region."""
        self._cloudwatch = cloudwatch
        self._log = log
        self._lock = threading.Lock()
        self._samples: dict[tuple[str, str, str], Counter[float]] = {}  # (source, table, receiving) -> ms -> count
        self.published = 0
        self.problem: str | None = None

    def add(self, source: str, table: str, receiving: str, latency_s: float) -> None:
        with self._lock:
            self._samples.setdefault((source, table, receiving), Counter())[round(latency_s * 1000, 1)] += 1

    def flush(self) -> int:
        """Publish what was measured since the last flush; how many samples. A failure keeps nothing (logged)."""
        with self._lock:
            taken, self._samples = self._samples, {}
        now = datetime.datetime.now(datetime.timezone.utc)
        sent = 0
        for (source, table, receiving), counts in sorted(taken.items()):
            values = sorted(counts.items())
            data = [{"MetricName": METRIC, "Timestamp": now, "Unit": "Milliseconds",
                     "Dimensions": [{"Name": "TableName", "Value": table}, {"Name": "ReceivingRegion", "Value": receiving}],
                     "Values": [v for v, _ in values[i:i + MAX_VALUES]],
                     "Counts": [float(c) for _, c in values[i:i + MAX_VALUES]]}
                    for i in range(0, len(values), MAX_VALUES)]
            try:
                for datum in data:
                    self._cloudwatch(source).put_metric_data(Namespace=NAMESPACE, MetricData=[datum])
            except Exception as error:  # noqa: BLE001 - the endpoint stopping; replication goes on
                self._log.warning("dynamodb: publishing ReplicationLatency in %s failed: %s", source, error)
                self.problem = f"publishing ReplicationLatency failed: {error}"
                continue
            self.problem = None
            sent += sum(counts.values())
        self.published += sent
        return sent
