"""Waiting for a condition, with a deadline: the one loop every wait in gameday uses.

A wait is measured on the monotonic clock (a wall-clock step never shortens or stretches it). The
condition is always asked at least once, and once more when the deadline has passed (the last
sleep is cut to what remains), so a wait of 0 s is a single check and a slow machine never loses
the final check to an oversleep.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """A condition was not met in time; names what was awaited, the timeout and the last value seen."""

    def __init__(self, what: str, timeout_s: float, last: Any = None) -> None:
        self.what, self.timeout_s, self.last = what, timeout_s, last
        super().__init__(f"waited {timeout_s:g} s for {what}; last: {last!r}")


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock, ``timeout_s`` after it was made by ``Deadline.after``."""

    at: float
    timeout_s: float

    @classmethod
    def after(cls, timeout_s: float) -> "Deadline":
        if timeout_s < 0:
            raise ValueError(f"timeout_s: {timeout_s!r} is not allowed; use a number of seconds >= 0")
        return cls(time.monotonic() + timeout_s, timeout_s)

    def remaining(self) -> float:
        """Seconds left (0.0 once expired)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def sleep(self, interval_s: float) -> None:
        """Sleep ``interval_s``, or less when the deadline comes sooner."""
        time.sleep(min(interval_s, self.remaining()))


def until(condition: Callable[[], T | None], timeout_s: float, what: str = "the condition", interval_s: float = 0.05,
          ignore: tuple[type[BaseException], ...] = (), accept: Callable[[Any], object] = bool) -> T:
    """``condition()``'s first value that ``accept`` holds true (truthy by default), asked every
    ``interval_s`` for ``timeout_s``.

    An exception of a type in ``ignore`` counts as a miss (and is the last value); any other one
    propagates, which is how a condition gives up early (a child that exited, say). Raises
    DeadlineExceeded naming ``what``, the timeout and the last value when time runs out.
    """
    deadline = Deadline.after(timeout_s)
    last: Any = None
    while True:
        try:
            value = condition()
            if accept(value) and value is not None:
                return value
            last = value
        except ignore as error:
            last = error
        if deadline.expired:
            raise DeadlineExceeded(what, timeout_s, last)
        deadline.sleep(interval_s)


def holds_within(condition: Callable[[], object], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Whether ``condition()`` turned truthy within ``timeout_s`` (asked as ``until`` asks); never raises on time."""
    try:
        until(condition, timeout_s, interval_s=interval_s)
        return True
    except DeadlineExceeded:
        return False
