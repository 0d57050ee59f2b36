"""Background samplers: call a read-only function at a stated rate, keep timestamped samples.

Every sample carries one monotonic and one wall time (``base.clock``). A sampler is bounded in
both count and time, and a failing read is recorded as a failed sample, never raised, so an outage
shows up as data.

Reads start on schedule even while an earlier one is still waiting for its answer (up to
``max_in_flight`` at once), as an uptime checker's probes do: a read stalled across a whole outage
(its connection made just before the cut, its answer held until the restore) comes back good but
slow, and one read at a time would have taken no other sample meanwhile, so the outage went unseen.
"""
from __future__ import annotations

import bisect
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
    samples: list[Sample[T]] = field(default_factory=list)  # in the order the reads started
    listener: Callable[[Sample[T]], None] | None = None  # told of every sample (the CloudWatch publisher)
    max_in_flight: int = 16  # reads waiting for an answer at once; past it, the next slot waits (the gap shows)

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError(f"{self.name}: interval_s must be > 0, got {self.interval_s}")
        if self.max_in_flight < 1:
            raise ValueError(f"{self.name}: max_in_flight must be >= 1, got {self.max_in_flight}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.name}-{self.source}", daemon=True)
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(self.max_in_flight)
        self._reads: list[threading.Thread] = []
        self._pending: list[float] = []  # when each read in flight started

    def take(self) -> Sample[T]:
        """One read now, recorded and returned."""
        return self._take(self._begin())

    def _begin(self) -> clock.Instant:
        """A read starts now: until it is recorded, ``settled`` stops before it."""
        started = clock.now()
        with self._lock:
            self._pending.append(started.monotonic_s)
        return started

    def _take(self, started: clock.Instant) -> Sample[T]:
        try:
            value = self.read()
            sample = Sample(started, self.source, bool(self.ok(value)), value,
                            duration_ms=(time.monotonic() - started.monotonic_s) * 1000)
        except Exception as error:  # an unreachable target is a sample, not a crash
            sample = Sample(started, self.source, False, None, f"{type(error).__name__}: {error}",
                            (time.monotonic() - started.monotonic_s) * 1000)
        with self._lock:
            # A read that answered late goes where it started, before those that started after it.
            bisect.insort(self.samples, sample, key=lambda s: s.at.monotonic_s)
            self._pending.remove(started.monotonic_s)
        if self.listener is not None:
            self.listener(sample)
        return sample

    def settled(self) -> list[Sample[T]]:
        """The samples that started before every read still in flight: no answer yet to come can land among
        them, so a verdict or a wait may rest on them (a stalled read holds them back until it answers)."""
        with self._lock:
            if not self._pending:
                return list(self.samples)
            oldest = min(self._pending)
            return [s for s in self.samples if s.at.monotonic_s < oldest]

    def _take_then_free_the_slot(self, started: clock.Instant) -> None:
        try:
            self._take(started)
        finally:
            self._in_flight.release()

    def _run(self) -> None:
        due = time.monotonic()
        for _ in range(self.max_samples):
            while not self._in_flight.acquire(timeout=self.interval_s):  # every read allowed in flight is stalled
                if self._stop.is_set():
                    return
            if self._stop.is_set():
                self._in_flight.release()
                return
            started = self._begin()
            read = threading.Thread(target=self._take_then_free_the_slot, args=(started,), daemon=True,
                                    name=f"sampler-{self.name}-{self.source}-read")
            with self._lock:
                self._reads = [r for r in self._reads if r.is_alive()] + [read]
            read.start()
            # A read that could only start late (every slot was taken) sets the pace from its own start: the
            # missed slots are not caught up with a burst, the rate stays the stated one, and the gap shows.
            due = max(due, started.monotonic_s) + self.interval_s
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return

    def start(self) -> "Sampler[T]":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30) -> list[Sample[T]]:
        """Stop starting reads, wait (within ``timeout_s``) for those in flight, and return every sample."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        self._thread.join(timeout_s)
        with self._lock:
            reads = list(self._reads)
        for read in reads:
            read.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return list(self.samples)

    def __enter__(self) -> "Sampler[T]":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
