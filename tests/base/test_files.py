"""base.files: atomic writes leave the old or the new content, and no temporary file."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from base import files


def test_write_json_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    files.write_json(target, {"ready": True, "pid": 7}, indent=2)
    assert json.loads(target.read_text()) == {"ready": True, "pid": 7}
    assert target.read_text() == json.dumps({"ready": True, "pid": 7}, indent=2)
    assert os.listdir(tmp_path) == ["state.json"]


def test_the_new_file_gets_the_mode_open_would_give(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        files.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_old_content_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "registry.json"
    target.write_text('{"kept": 1}')
    with pytest.raises(TypeError):
        files.write_json(target, {"bad": object()})  # fails before anything is written
    (tmp_path / "sub").mkdir()
    with pytest.raises(IsADirectoryError):
        files.write_text(tmp_path / "sub", "x")  # the rename fails: the target is a directory
    assert json.loads(target.read_text()) == {"kept": 1}
    assert sorted(os.listdir(tmp_path)) == ["registry.json", "sub"]


def test_make_dirs_survives_another_process_removing_the_empty_parent(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stacks start at once: one makes the runtime root, the other's cleanup removes it while it is empty."""
    root, target = tmp_path / "runtime", tmp_path / "runtime" / "2"
    real_mkdir, removed = os.mkdir, []

    def racing_mkdir(path: Any, mode: int = 0o777) -> None:
        if Path(path) == target and root.is_dir() and not removed:
            root.rmdir()  # the other instance's cleanup, between the parent's mkdir and ours
            removed.append(root)
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    with pytest.raises(FileNotFoundError):
        target.mkdir(parents=True)  # what the supervisor did: the race fails it
    removed.clear()
    files.make_dirs(target, mode=0o755)
    assert removed and target.is_dir() and (target.stat().st_mode & 0o777) == 0o755 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_new_creates_a_file_with_its_mode_and_never_replaces_one(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    files.write_new(key, b"first", 0o600)
    assert key.read_bytes() == b"first" and key.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        files.write_new(key, b"second")
    assert key.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]  # no temporary file left behind
