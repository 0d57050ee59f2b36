"""Files written for the postgres user (passfiles, pwfiles) are private from the moment they exist."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack.local.rds import runner


@pytest.mark.skipif(os.geteuid() != 0, reason="the file is handed to postgres only when gameday runs as root")
def test_a_secret_file_is_never_readable_by_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[int] = []
    chown = os.chown

    def watch(path: str | Path, uid: int, gid: int) -> None:
        modes.append(os.stat(path).st_mode & 0o777)  # after the secret is written, before any later chmod
        chown(path, uid, gid)

    monkeypatch.setattr(runner.os, "chown", watch)
    previous = os.umask(0o022)  # the usual umask: a plain write would create 0644
    try:
        runner.write_postgres_file(tmp_path / "passfile", "*:*:*:rdsrepladmin:secret\n")
    finally:
        os.umask(previous)
    assert modes == [0o600]
    assert (tmp_path / "passfile").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "passfile").read_text() == "*:*:*:rdsrepladmin:secret\n"
