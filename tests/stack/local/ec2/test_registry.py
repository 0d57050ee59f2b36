"""Leftovers of a crashed supervisor: recorded checkout processes are stopped and their files removed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stack.local.ec2.registry import DIRECTORY, Registry, cleanup_leftovers


def test_cleanup_stops_recorded_processes_and_removes_their_files(tmp_path: Path) -> None:
    directory = tmp_path / DIRECTORY
    directory.mkdir()
    socket_file = directory / "i-0000000000000000a.sock"
    socket_file.write_text("")
    # Started in its own session, as an orphan of a dead supervisor would be.
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        Registry(directory).add("i-0000000000000000a", orphan.pid, [socket_file])
        notes = cleanup_leftovers(tmp_path)
        assert orphan.wait(5) is not None
        assert any("i-0000000000000000a" in n for n in notes)
        assert not socket_file.exists() and not (directory / "processes.json").exists()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_recycled_pid_is_not_killed(tmp_path: Path) -> None:
    directory = tmp_path / DIRECTORY
    directory.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        Registry(directory).add("i-0000000000000000b", bystander.pid, [])
        # Pretend the recorded process started at another time: the pid now belongs to someone else.
        path = directory / "processes.json"
        path.write_text(path.read_text().replace('"start_ticks": ', '"start_ticks": 1'))
        cleanup_leftovers(tmp_path, grace_s=0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_nothing_recorded_is_nothing_to_do(tmp_path: Path) -> None:
    assert cleanup_leftovers(tmp_path) == []
