"""What the RDS part has running and on disk, written down so a crashed supervisor's leftovers are found.

PostgreSQL's files live in a short directory under /tmp (``gdrds-*``): a Unix socket path must
stay under 108 bytes and every parent directory must be traversable by `postgres`, which a
runtime directory such as /run/user/0 is not. The registry in the part's state directory names
that storage root and every node (data directory, postmaster pid); the storage root also holds
an ``owner.json`` naming the state directory, so a lost registry still finds it.
"""
from __future__ import annotations

import json
import signal
import tempfile
import threading
from pathlib import Path

from base import files
from stack.local import process as executor
from stack.local.rds import runner

REGISTRY_FILE = "registry.json"
OWNER_FILE = "owner.json"
STORAGE_PREFIX = "gdrds-"


def part_dir(state_dir: Path) -> Path:
    return state_dir / "rds"


class Registry:
    def __init__(self, state_dir: Path) -> None:
        self.path = part_dir(state_dir) / REGISTRY_FILE
        self.state_dir = state_dir
        self._lock = threading.Lock()
        self._data: dict[str, object] = {"storage_root": None, "nodes": {}}

    def create_storage(self) -> Path:
        """A fresh storage root for PostgreSQL's files, recorded before anything is put in it."""
        root = Path(tempfile.mkdtemp(prefix=STORAGE_PREFIX, dir="/tmp"))
        (root / OWNER_FILE).write_text(json.dumps({"state_dir": str(self.state_dir)}))
        runner.give_to_postgres(root, 0o711)
        with self._lock:
            self._data["storage_root"] = str(root)
            self._write()
        return root

    def record_node(self, data_dir: Path, pid: int | None) -> None:
        with self._lock:
            nodes = self._data["nodes"]
            assert isinstance(nodes, dict)
            nodes[str(data_dir)] = pid
            self._write()

    def forget_node(self, data_dir: Path) -> None:
        with self._lock:
            nodes = self._data["nodes"]
            assert isinstance(nodes, dict)
            nodes.pop(str(data_dir), None)
            self._write()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files.write_json(self.path, self._data, indent=1)


def _stop_cluster(data_dir: Path, grace_s: float = 5.0) -> list[int]:
    """Immediate-shutdown every process of the cluster in ``data_dir``; SIGKILL what stays."""
    pids = runner.cluster_pids(data_dir)
    postmasters = [p for p in pids if _is_postmaster(p)]
    executor.stop_pids(postmasters or pids, lambda: runner.cluster_pids(data_dir), grace_s, signal.SIGQUIT,
                       interval_s=0.02)
    return pids


def _is_postmaster(pid: int) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, PermissionError):
        return False
    return len(args) > 2 and args[0].endswith(b"/postgres") and args[1] == b"-D"


def _owned_roots(state_dir: Path) -> list[Path]:
    found = []
    for root in Path("/tmp").glob(f"{STORAGE_PREFIX}*"):
        try:
            owner = json.loads((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner.get("state_dir") == str(state_dir):
            found.append(root)
    return found


def cleanup_leftovers(state_dir: Path) -> list[str]:
    """Stop every PostgreSQL process and remove every file a previous RDS part of ``state_dir`` left.

    Safe to call when nothing is left (returns an empty list); returns what was done.
    """
    notes: list[str] = []
    registry = part_dir(state_dir) / REGISTRY_FILE
    data_dirs: set[Path] = set()
    roots: set[Path] = set(_owned_roots(state_dir))
    try:
        data = json.loads(registry.read_text())
        data_dirs |= {Path(d) for d in data.get("nodes", {})}
        if data.get("storage_root"):
            roots.add(Path(data["storage_root"]))
    except (OSError, ValueError):
        pass
    for root in roots:
        data_dirs |= {p.parent for p in root.glob("**/PG_VERSION") if p.parent.name == "data"}
    for data_dir in sorted(data_dirs):
        stopped = _stop_cluster(data_dir)
        if stopped:
            notes.append(f"stopped PostgreSQL processes {stopped} of {data_dir}")
    for root in sorted(roots):
        if root.exists():
            runner.remove_tree(root)
            notes.append(f"removed {root}")
    registry.unlink(missing_ok=True)
    return notes
