"""Background samplers: call a read-only function at a stated rate, keep timestamped samples.

Every sample carries one monotonic and one wall time (``base.clock``). A sampler is bounded in
both count and time, and a failing read is recorded as a failed sample, never raised, so an outage
shows up as data.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

from base import clock

T = TypeVar("T")


@dataclass(frozen=True)
class Sample(Generic[T]):
    at: clock.Instant
    source: str  # a vantage point, an instance, "aws"
    ok: bool
    value: T | None
    error: str = ""
    duration_ms: float = 0.0


@dataclass
class Sampler(Generic[T]):
    """Run ``read`` every ``interval_s`` until stopped, at most ``max_samples`` times."""

    name: str
    source: str
    read: Callable[[], T]
    interval_s: float
    ok: Callable[[T], bool] = lambda _value: True
    max_samples: int = 100_000
    samples: list[Sample[T]] = field(default_factory=list)
    listener: Callable[[Sample[T]], None] | None = None  # told of every sample (the CloudWatch publisher)

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError(f"{self.name}: interval_s must be > 0, got {self.interval_s}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.name}-{self.source}", daemon=True)
        self._lock = threading.Lock()

    def take(self) -> Sample[T]:
        started = clock.now()
        try:
            value = self.read()
            sample = Sample(started, self.source, bool(self.ok(value)), value,
                            duration_ms=(time.monotonic() - started.monotonic_s) * 1000)
        except Exception as error:  # an unreachable target is a sample, not a crash
            sample = Sample(started, self.source, False, None, f"{type(error).__name__}: {error}",
                            (time.monotonic() - started.monotonic_s) * 1000)
        with self._lock:
            self.samples.append(sample)
        if self.listener is not None:
            self.listener(sample)
        return sample

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set() and len(self.samples) < self.max_samples:
            self.take()
            # A read that outlasted its slot is followed by one sample at once, not by a burst catching up
            # on the slots it missed: the rate stays the stated one, and the gap shows in the samples' times.
            next_at = max(next_at + self.interval_s, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> "Sampler[T]":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30) -> list[Sample[T]]:
        self._stop.set()
        self._thread.join(timeout_s)
        with self._lock:
            return list(self.samples)

    def __enter__(self) -> "Sampler[T]":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
