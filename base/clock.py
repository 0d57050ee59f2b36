"""One monotonic clock for durations and one wall clock for people, read together.

Durations (RTO, latency) come from the monotonic clock only, so an NTP step cannot bend them.
Converting a wall duration to AWS-equivalent seconds is ``base.timescale.TimeScale.to_aws``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Instant:
    monotonic_s: float
    wall_time: float  # seconds since the epoch, UTC

    @property
    def iso(self) -> str:
        return datetime.fromtimestamp(self.wall_time, timezone.utc).isoformat(timespec="milliseconds")


def now() -> Instant:
    return Instant(time.monotonic(), time.time())

