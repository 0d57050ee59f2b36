"""Log files only their owner can read.

A log can quote what a process was given or told (a connection string, a request), so every log
gameday writes is created with mode 0600, and an existing one is narrowed to 0600 before reuse.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Iterable

MODE = 0o600


def open_log(path: Path, append: bool = True) -> BinaryIO:
    """Open ``path`` for writing as a private log (created 0600; an existing file is set to 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, MODE)
    os.fchmod(fd, MODE)  # os.open's mode applies only to a file it creates
    return os.fdopen(fd, "ab" if append else "wb")


def restrict(roots: Iterable[Path]) -> None:
    """Narrow every ``*.log`` under ``roots`` to 0600 (logs a child process created itself)."""
    for root in roots:
        for path in Path(root).rglob("*.log") if Path(root).is_dir() else ():
            try:
                if path.is_file() and path.stat().st_mode & 0o777 != MODE:
                    path.chmod(MODE)
            except OSError:
                continue  # removed meanwhile
