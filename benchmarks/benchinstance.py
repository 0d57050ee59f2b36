"""The local stack instance a benchmark runs on: $GAMEDAY_INSTANCE, else the benchmark's own default.

No benchmark defaults to instance 0, the user's own stack: several of them start, build, stop or inject
faults into the stack they run on. Test workers take 1 and up from 1, so benchmarks keep to the top of
the range; `make bench` runs them one after the other, so those without an instance of their own share one.
"""
from __future__ import annotations

import sys

from base.errors import SettingsError
from stack.local.instance import instance_from_environ

SHARED_INSTANCE = 8


def bench_instance(default: int = SHARED_INSTANCE) -> int:
    """The instance number; exits naming $GAMEDAY_INSTANCE and what is allowed when it is not 0-9."""
    try:
        return instance_from_environ(default)
    except SettingsError as error:
        sys.exit(f"{sys.argv[0]}: {error}")
