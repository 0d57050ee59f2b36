"""Atomic file writes: a reader sees the old content or the new, never half of either. And directories
made under a shared parent that other processes remove when it is empty (``make_dirs``).

The text goes to a uniquely named temporary file in the same directory (a rename is atomic only
within one file system), is fsynced, then renamed over the target. The temporary file is created
with mode 0666 less the umask, as ``open()`` would create the target itself.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` (UTF-8) atomically; the temporary file never outlives a failure."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any, indent: int | None = None) -> None:
    """``json.dumps(value, indent=indent)`` written atomically to ``path``."""
    write_text(path, json.dumps(value, indent=indent))


def make_dirs(path: Path, mode: int = 0o777, exist_ok: bool = False, attempts: int = 10) -> None:
    """``path.mkdir(parents=True)``, again if a parent it made vanished before ``path`` itself was made.

    Several processes share a parent (the local stacks' runtime root, an evidence spool) and each removes
    it on the way out when it is empty. ``mkdir(parents=True)`` makes the parent, then ``path``: a removal
    between the two fails the second with FileNotFoundError, though nothing is wrong.
    """
    for _ in range(attempts - 1):
        try:
            path.mkdir(mode=mode, parents=True, exist_ok=exist_ok)
            return
        except FileNotFoundError:
            continue
    path.mkdir(mode=mode, parents=True, exist_ok=exist_ok)
