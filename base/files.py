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


def _written_temporary(path: Path, content: bytes, mode: int) -> Path:
    """A uniquely named, fsynced temporary file beside ``path`` holding ``content``; the caller moves it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_text(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` (UTF-8) atomically; the temporary file never outlives a failure."""
    temporary = _written_temporary(Path(path), text.encode("utf-8"), 0o666)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_new(path: Path, content: bytes, mode: int = 0o666) -> None:
    """Create ``path``, which must not exist, whole or not at all. The temporary file is hard-linked into place:
    unlike a rename, a link never replaces a file another process made meanwhile (FileExistsError then)."""
    temporary = _written_temporary(Path(path), content, mode)
    try:
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def directory_problem(path: Path) -> str | None:
    """Why ``path``'s directory cannot take a new file ("its directory D does not exist"), or None when it can."""
    parent = Path(path).parent
    if parent.is_dir():
        return None
    return f"its directory {parent} {'is not a directory' if parent.exists() else 'does not exist'}"


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
