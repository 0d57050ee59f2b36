"""A small on-disk registry of the checkout processes the EC2 part started, to clean up after a crash.

The supervisor's marker already finds every descendant; this registry also knows each process's
files (socket, password file), and identifies a pid by its start time so a recycled pid is never
killed by mistake.
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from base import files
from stack.local import process as executor

DIRECTORY = "ec2"
FILE = "processes.json"
ZYGOTE = "zygote"  # the entry of the process the instances are forked from, beside one per instance


@dataclass(frozen=True)
class Entry:
    instance_id: str
    pid: int
    start_ticks: int  # field 22 of /proc/<pid>/stat: identifies the process, not just the pid
    files: tuple[str, ...]


def start_ticks(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _running(entry: Entry) -> bool:
    """The very process the entry names is alive (not a zombie, not a recycled pid)."""
    try:
        fields = Path(f"/proc/{entry.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and int(fields[19]) == entry.start_ticks


class Registry:
    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE
        self._lock = threading.Lock()

    def entries(self) -> list[Entry]:
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [Entry(e["instance_id"], e["pid"], e["start_ticks"], tuple(e["files"])) for e in raw]

    def add(self, instance_id: str, pid: int, files: list[Path]) -> None:
        ticks = start_ticks(pid)
        with self._lock:
            kept = [e for e in self.entries() if e.instance_id != instance_id]
            self._write([*kept, Entry(instance_id, pid, ticks if ticks is not None else -1, tuple(map(str, files)))])

    def remove(self, instance_id: str) -> None:
        with self._lock:
            self._write([e for e in self.entries() if e.instance_id != instance_id])

    def _write(self, entries: list[Entry]) -> None:
        files.write_json(self.path, [asdict(e) for e in entries], indent=1)


def cleanup_leftovers(state_dir: Path, grace_s: float = 3.0) -> list[str]:
    """Stop the checkout processes a crashed supervisor left and remove their files. Returns what was done."""
    directory = state_dir / DIRECTORY
    registry = Registry(directory)
    entries = registry.entries()
    notes = []
    victims = [e for e in entries if _running(e)]
    stopped = executor.stop_pids([e.pid for e in victims], lambda: [e.pid for e in victims if _running(e)], grace_s,
                                 interval_s=0.02)
    notes += [f"stopped leftover checkout {e.instance_id} (pid {e.pid})" for e in victims if e.pid in stopped.signalled]
    for entry in entries:
        for name in entry.files:
            try:
                Path(name).unlink()
                notes.append(f"removed {name}")
            except FileNotFoundError:
                pass
    registry.path.unlink(missing_ok=True)
    return notes
