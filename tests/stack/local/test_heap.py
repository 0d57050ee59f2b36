"""The supervisor's heap: malloc capped at two arenas, and freed pages returned to the system."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stack.local import heap

pytestmark = pytest.mark.skipif(not heap.available, reason="needs glibc's mallopt and malloc_trim")


# Run in a fresh interpreter, so that nothing else allocates meanwhile. 64 KiB objects come from malloc's heap
# (below its mmap threshold; CPython keeps only objects up to 512 bytes itself), one after another from its top;
# freeing every other one leaves holes between live blocks, which free() cannot give back (it only ever shrinks
# the top of the heap) and which no small allocation elsewhere can merge. The small holes made first stand for
# the fragmented heap any process has.
FREED_HOLES = r"""
import json, os
from stack.local import heap
page = os.sysconf("SC_PAGE_SIZE")
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * page
small = [b"\x03" * 1024 for _ in range(4096)]
del small[::2]
blocks = [b"\x01" * 65536 for _ in range(2048)]  # 128 MiB
del blocks[::2]  # 64 MiB of holes, each between two live blocks
held = resident()
trimmed = heap.trim()
print(json.dumps({"trimmed": trimmed, "released_mib": (held - resident()) / 2**20}))
"""


def test_trim_returns_freed_pages_that_free_alone_keeps() -> None:
    run = subprocess.run([sys.executable, "-c", FREED_HOLES], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["trimmed"] and seen["released_mib"] >= 32, seen


def test_the_arena_cap_is_taken() -> None:
    assert heap.limit_arenas(heap.ARENA_MAX)
