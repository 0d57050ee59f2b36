"""Failing schedules are kept, and the next run replays them before anything new.

Hypothesis saves every failing schedule it finds, and the smallest one it shrinks to, in an example
database; the next run of the same schedules replays them first. A saved schedule that no longer
fails is dropped, so a fixed bug leaves nothing behind. The database is a directory:

- ``$GAMEDAY_CHAOS_EXAMPLES`` when set;
- else ``chaos/`` under Hypothesis's own directory: ``$HYPOTHESIS_STORAGE_DIRECTORY``, or ``.hypothesis/``.

A relative path is taken from the project directory given (the experiments give pytest's rootdir),
else from the working directory.

Each named run of schedules has its own subdirectory. Hypothesis keys a state machine's examples by
its source, which every rig shares: without the name, the proof's broken-on-purpose schedules would
be replayed against the live stack. Usage::

    schedules = replay.keeping_failures(SCHEDULES, "my_stack")
    run_state_machine_as_test(replay.seeded(fault_schedule(MyRig())), settings=schedules)

To replay a failure: run the same test again from the same directory (it comes first). To forget
the failures: delete ``.hypothesis/chaos/<name>`` (or the directory you configured).

Generation stays deterministic: instead of ``derandomize`` (which rules out a database), the machine
is seeded with a fixed seed, so every run explores the same schedules after the replayed ones.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import seed, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import RuleBasedStateMachine

ENV = "GAMEDAY_CHAOS_EXAMPLES"
SEED = 20260601  # any fixed number: the same schedules in every run, as derandomize gave
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def examples_dir(project: Path | None = None) -> Path:
    """Where failing schedules are kept: ``$GAMEDAY_CHAOS_EXAMPLES``, else ``<Hypothesis's directory>/chaos``.

    Relative paths, and the default ``.hypothesis``, are taken from ``project`` (pytest's rootdir, say),
    else from the working directory."""
    base = project if project is not None else Path.cwd()
    configured = os.environ.get(ENV)
    if configured is not None:
        if not configured.strip():
            raise ValueError(f"{ENV} is set but empty: give a directory for failing chaos schedules, or unset it "
                             "to use .hypothesis/chaos")
        return base / Path(configured).expanduser()
    home = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or ".hypothesis"
    return base / Path(home).expanduser() / "chaos"


def database(name: str, root: Path | None = None) -> DirectoryBasedExampleDatabase:
    """The example database of the schedules called ``name`` (a subdirectory of ``root`` or ``examples_dir()``)."""
    if not NAME.match(name) or name in (".", ".."):
        raise ValueError(f"schedule name {name!r} cannot name a directory of failing schedules: use letters, "
                         "digits, '_', '-' and '.'")
    return DirectoryBasedExampleDatabase(str((root or examples_dir()) / name))


def keeping_failures(base: settings, name: str, root: Path | None = None) -> settings:
    """``base`` with the example database of ``name``: failures are saved, and replayed first next time."""
    if base.derandomize:
        # Hypothesis refuses a database with derandomize; seeded() keeps generation deterministic instead.
        base = settings(base, derandomize=False)
    return settings(base, database=database(name, root))


def seeded(machine: type[RuleBasedStateMachine]) -> type[RuleBasedStateMachine]:
    """The state machine with a fixed seed: deterministic generation that still allows a database."""
    return seed(SEED)(machine)
