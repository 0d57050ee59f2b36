"""The fault journal: what was changed, written to disk *before* AWS is called.

Each target (a local stack instance, or an AWS account) has a directory of append-only JSON-lines
files, one per process. A fault appends ``begin`` (its name and parameters), then ``progress``
records as it learns ids it must undo (a cloned NACL, a new association), then ``done`` once rolled
back. ``gameday recover`` replays every entry without ``done``: a run killed with SIGKILL leaves
exactly what is needed to undo it. Each line is written with one ``write`` and fsynced.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


def journal_root() -> Path:
    configured = os.environ.get("GAMEDAY_JOURNAL_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gameday" / "journal"


@dataclass
class Entry:
    id: str
    fault: str
    params: dict[str, Any]
    target: str
    began_at: float
    state: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    outcome: str = ""


class Journal:
    def __init__(self, target: str, directory: Path | None = None) -> None:
        self.target = target
        self.directory = (directory or journal_root()) / _safe(target)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl"
        self._lock = threading.Lock()

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        with self._lock:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    def begin(self, fault: str, params: dict[str, Any]) -> Entry:
        entry = Entry(uuid.uuid4().hex, fault, dict(params), self.target, time.time())
        self._append({"event": "begin", "id": entry.id, "fault": fault, "params": params,
                      "target": self.target, "at": entry.began_at})
        return entry

    def progress(self, entry: Entry, **state: Any) -> None:
        entry.state.update(state)
        self._append({"event": "progress", "id": entry.id, "state": state, "at": time.time()})

    def done(self, entry: Entry, outcome: str = "rolled back") -> None:
        entry.done, entry.outcome = True, outcome
        self._append({"event": "done", "id": entry.id, "outcome": outcome, "at": time.time()})


def _safe(target: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in target)


def open_entries(target: str, directory: Path | None = None) -> Iterator[tuple[Path, Entry]]:
    """Every entry of ``target`` that began but was never marked done, oldest first."""
    folder = (directory or journal_root()) / _safe(target)
    entries: dict[str, tuple[Path, Entry]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill; everything before it is intact
            if record["event"] == "begin":
                entries[record["id"]] = (path, Entry(record["id"], record["fault"], record["params"],
                                                     record["target"], record["at"]))
            elif record["id"] in entries:
                entry = entries[record["id"]][1]
                if record["event"] == "progress":
                    entry.state.update(record["state"])
                elif record["event"] == "done":
                    entry.done = True
    for path, entry in sorted(entries.values(), key=lambda item: item[1].began_at):
        if not entry.done:
            yield path, entry


def mark_recovered(path: Path, entry: Entry, outcome: str) -> None:
    """Close an entry found by ``open_entries`` in the file it came from."""
    journal = Journal.__new__(Journal)
    journal.target, journal.directory, journal.path, journal._lock = entry.target, path.parent, path, threading.Lock()
    journal.done(entry, outcome)
