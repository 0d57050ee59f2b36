"""The time model: AWS's durations run faster on the local stack, by one factor, everywhere.

A local environment's ``time_scale`` (0 < time_scale <= 1, default 0.1) says how much faster: a
duration AWS documents as ``aws_s`` seconds takes ``aws_s * time_scale`` seconds of wall-clock time
here, and a wall-clock measurement of ``wall_s`` seconds stands for ``wall_s / time_scale`` AWS
seconds. On AWS itself the scale is 1.

The rules:

- One ``TimeScale`` value is built from the environment (``environment.timescale``) and passed to
  whatever converts. Nothing multiplies or divides by the bare number.
- Parts of the local stack talk to each other in AWS seconds; the part that finally waits, times
  out or serves a TTL converts, once. (The RDS endpoint's TTL, for example, is handed to Route 53
  as AWS's 5 s; the DNS server scales it when it answers.)
- DNS counts whole seconds: a TTL is rounded *up* and never drops below 1 s, so a record is never
  served uncacheable by accident; an explicit TTL of 0 stays 0.
- A timeout can have a floor in wall seconds: network delay and a busy host are not scaled, so a
  scaled timeout that is shorter than the machine needs would fail healthy targets.
- SLOs and reports are in AWS seconds, so one SLO means the same on the local stack and on AWS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from base.errors import SettingsError

DEFAULT_TIME_SCALE = 0.1  # the one default: a 60-120 s RDS failover takes 6-12 s
# 60 * 0.1 is 6.000000000000001 in floating point; without this, that TTL would round up to 7.
_TTL_EPSILON = 1e-9


@dataclass(frozen=True)
class TimeScale:
    """Wall seconds per AWS second on the stack (``factor``); checked once, here."""

    factor: float

    REAL: ClassVar[TimeScale]  # AWS itself: scale 1
    DEFAULT: ClassVar[TimeScale]

    def __post_init__(self) -> None:
        # `not 0 < x` also refuses NaN; bool is an int, but never a scale.
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)) or not 0 < self.factor <= 1:
            raise SettingsError(f"time_scale {self.factor!r} is not allowed; use a number with 0 < time_scale <= 1")

    def to_wall(self, aws_s: float) -> float:
        """Wall-clock seconds for a duration of ``aws_s`` AWS seconds."""
        return aws_s * self.factor

    def to_aws(self, wall_s: float) -> float:
        """AWS-equivalent seconds for ``wall_s`` seconds measured on the wall clock."""
        return wall_s / self.factor

    def ttl(self, aws_ttl_s: int) -> int:
        """The TTL served for an AWS TTL: scaled, rounded up, at least 1 s; an explicit 0 stays 0."""
        if aws_ttl_s <= 0:
            return 0
        return max(1, math.ceil(aws_ttl_s * self.factor - _TTL_EPSILON))

    def timeout(self, aws_s: float, floor: float) -> float:
        """Wall seconds to wait for something AWS gives ``aws_s`` seconds, but never less than ``floor`` wall seconds."""
        return max(floor, self.to_wall(aws_s))


TimeScale.REAL = TimeScale(1.0)
TimeScale.DEFAULT = TimeScale(DEFAULT_TIME_SCALE)
