"""One monotonic clock for durations and one wall clock for people, read together.

Durations (RTO, latency) come from the monotonic clock only, so an NTP step cannot bend them.
``aws_seconds`` converts a wall duration on the local stack to AWS-equivalent seconds.
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


def aws_seconds(wall_s: float, time_scale: float) -> float:
    """The AWS-equivalent duration of ``wall_s`` seconds on a stack running at ``time_scale``."""
    if time_scale <= 0:
        raise ValueError(f"time_scale must be > 0, got {time_scale}")
    return wall_s / time_scale
