"""The supervisor's heap: malloc capped at two arenas, and freed pages returned to the system."""
from __future__ import annotations

import os
import time

import pytest

from stack.local import heap

pytestmark = pytest.mark.skipif(not heap.available, reason="needs glibc's mallopt and malloc_trim")
PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def test_trim_returns_freed_pages_that_free_alone_keeps() -> None:
    # 4 KiB objects come from malloc's heap (CPython keeps only objects up to 512 bytes); the block allocated
    # last sits above them, so freeing them leaves a hole free() cannot shrink the heap past.
    blocks = [bytes(4096) for _ in range(16 * 1024)]  # 64 MiB
    above = [bytes(4096) for _ in range(16)]
    del blocks
    held = resident_bytes()
    assert heap.trim()
    assert held - resident_bytes() >= 32 * 1024 * 1024
    del above


def test_the_arena_cap_is_taken() -> None:
    assert heap.limit_arenas(heap.ARENA_MAX)


def test_the_trimmer_trims_until_stopped() -> None:
    trimmer = heap.Trimmer(every_s=0.01).start()
    try:
        deadline = time.monotonic() + 10
        while trimmer.trims < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert trimmer.trims >= 3
    finally:
        trimmer.stop()
    stopped_at = trimmer.trims
    time.sleep(0.05)
    assert trimmer.trims == stopped_at


def test_a_trim_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"every_s must be > 0, got 0"):
        heap.Trimmer(every_s=0)
