"""Sub-millisecond timers for the latency effect, on a timerfd watched by the event loop.

Why not ``loop.call_at``: asyncio waits in epoll with a timeout rounded *up* to whole
milliseconds, and uvloop's timers have millisecond resolution, so a 2 ms one-way delay (a vantage
point 4 ms from its Region) would come out up to 50% late. A timerfd armed with an absolute
CLOCK_MONOTONIC deadline wakes the same epoll within the kernel's timer slack (~50 us).
CLOCK_MONOTONIC is the clock of ``time.monotonic()``, which stamps every chunk.

Waking still takes the kernel some tens of microseconds (more in a VM), always late, never
early. The timer learns that lag (a moving average, clipped so one long stall does not skew it)
and arms that much early, so deliveries are centred on their deadlines instead of trailing them.
"""
from __future__ import annotations

import asyncio
import ctypes
import heapq
import itertools
import os
import time
from typing import Callable

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1
_LAG_CLIP_S = 100e-6  # a wake later than this is a scheduling stall, not the usual lag; it also bounds
# how early a chunk may leave
_LAG_WEIGHT = 0.05


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]


class Timer:
    """Calls callbacks at ``time.monotonic()`` deadlines, in deadline order, on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        fd = _libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._armed_at = float("inf")
        self._deadline = float("inf")  # when the timer was armed for, without the lag
        self.lag_s = 50e-6
        self._spec = _Itimerspec()
        loop.add_reader(fd, self._fire)

    def horizon(self) -> float:
        """Now, plus the wake lag: a deadline before this is due (the next wake would be later)."""
        return time.monotonic() + self.lag_s

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._sequence), callback))
        if when < self._deadline:
            self._arm(when)

    def _arm(self, when: float) -> None:
        self._deadline = when
        # A zero it_value would disarm the timer; monotonic time is never 0, but be sure.
        seconds = max(when - self.lag_s, 1e-6)
        self._spec.it_value.tv_sec = int(seconds)
        self._spec.it_value.tv_nsec = int((seconds - int(seconds)) * 1e9)
        if _libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._armed_at = seconds

    def _fire(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass
        now = time.monotonic()
        if now >= self._armed_at:
            observed = min(now - self._armed_at, _LAG_CLIP_S)
            self.lag_s += _LAG_WEIGHT * (observed - self.lag_s)
        self._armed_at = self._deadline = float("inf")
        # What falls due within the lag is due now: waiting for it would cost another, late, wake.
        horizon = now + self.lag_s
        heap = self._heap
        while heap and heap[0][0] <= horizon:
            heapq.heappop(heap)[2]()
        if heap:
            self._arm(heap[0][0])

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._heap.clear()
