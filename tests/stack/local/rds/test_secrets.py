"""The master password stays out of command lines, settings and logs; replication has its own role."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from stack.local.rds import runner
from stack.local.rds.nodeconfig import REPLICATION_USER, Credentials, NodeOptions, Upstream
from stack.local.rds.postgres import Node
from tests.stack.local.rds.conftest import streaming_pair

PRIMARY = NodeOptions(replication_timeout_s=1.0)


@pytest.fixture
def command_lines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command line the node manager starts (what `ps` would show)."""
    seen: list[str] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(args: Any, *a: Any, **k: Any) -> Any:
        seen.append(" ".join(map(str, args)))
        return real_run(args, *a, **k)

    class Popen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *a: Any, **k: Any) -> None:
            seen.append(" ".join(map(str, args)))
            super().__init__(args, *a, **k)

    monkeypatch.setattr(runner.subprocess, "run", run)
    monkeypatch.setattr(runner.subprocess, "Popen", Popen)
    return seen


def test_standby_follow_and_rewind_never_show_a_password(make_node: Callable[[str], Node], credentials: Credentials,
                                                          command_lines: list[str]) -> None:
    primary, standby = streaming_pair(make_node, PRIMARY)
    # A reload with a changed primary_conninfo, which PostgreSQL logs in full (the same socket, spelt differently).
    standby.follow(Upstream(f"{primary.socket_dir}/"))
    standby.wait_streaming(15)
    # Replication runs as its own role, not as the master user.
    assert primary.query("SELECT usename FROM pg_stat_replication") == [[REPLICATION_USER]]
    assert primary.query("SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = :r", r=REPLICATION_USER) == [
        [False, True]]
    # A former primary rewound from the promoted standby (pg_rewind and its checkpoint, as that role).
    primary.stop("immediate")
    standby.promote()
    primary.rewind_from(standby.local)
    primary.start(NodeOptions(hot_standby=True, replication_timeout_s=1.0))
    primary.wait_streaming(15)

    secrets = (credentials.password, credentials.replication_password)
    assert command_lines and not [line for line in command_lines if any(s in line for s in secrets)]
    for node in (primary, standby):
        assert node.log_path.stat().st_mode & 0o777 == 0o600, f"{node.log_path} is readable by others"
        text = node.log_path.read_text(errors="replace")
        assert node is primary or "primary_conninfo" in text  # the reload was logged: the check is not vacuous
        assert not [s for s in secrets if s in text], f"{node.log_path} holds a password"
        auto_conf = (node.data_dir / "postgresql.auto.conf").read_text()
        assert "passfile=" in auto_conf and not [s for s in secrets if s in auto_conf]
    assert not list(Path(primary.root).glob("pwfile"))


def test_a_replication_password_with_passfile_metacharacters_still_replicates(storage: Path) -> None:
    """libpq's passfile separates fields with ':' and escapes with '\\': both are escaped."""
    odd = Credentials("master", "m4ster-password", replication_password="re:pl\\ica'tion:pw")
    primary, standby = Node("p", storage / "p", odd), Node("s", storage / "s", odd)
    primary.init()
    primary.start(PRIMARY)
    standby.clone_from(primary.local)
    standby.start(PRIMARY)
    standby.wait_streaming(15)
    assert primary.query("SELECT usename FROM pg_stat_replication") == [[REPLICATION_USER]]
    for node in (standby, primary):
        node.stop("immediate")
