"""No password in any log, evidence pack or command line of a real run, and every log is 0600.

The session's local stack with the reference stack (a Multi-AZ database and a cross-Region read
replica), then Lab 3 for real in a pytest of its own: a failover, which makes the replica follow the
new primary (PostgreSQL logs a reloaded primary_conninfo in full) and writes an evidence pack.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from environments import loader
from gameday.fixtures import LocalStackInfo
from stack.handles import ReferenceStack
from stack.local.instance import Instance

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _files(*roots: Path, pattern: str = "*") -> list[Path]:
    return [path for root in roots if root.is_dir() for path in root.rglob(pattern) if path.is_file()]


def test_a_run_with_rds_and_a_replica_leaves_no_password_anywhere(
        local_stack: LocalStackInfo | None, stack: ReferenceStack, aws_client: Any, gameday_settings: Any,
        tmp_path: Path) -> None:
    if local_stack is None:
        pytest.skip("needs the local stack: it reads the stack's own logs")
    assert stack.database is not None and stack.replica is not None, "the reference stack has a database and a replica"
    secret = aws_client("secretsmanager", stack.database.region).get_secret_value(SecretId=stack.database.secret_id)
    password = json.loads(secret["SecretString"])["password"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GAMEDAY_"))}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "experiments/test_lab3_multi_az_rds.py", "--env", gameday_settings.env,
         "--gameday-instance", str(local_stack.instance), "--gameday-evidence-dir", str(out), "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert password not in result.stdout + result.stderr

    instance = Instance(local_stack.instance, loader.load(gameday_settings.env))
    storage = Path(json.loads((instance.state_dir / "rds" / "registry.json").read_text())["storage_root"])
    logs = _files(instance.log_dir, pattern="*.log") + _files(instance.state_dir, storage, pattern="*.log")
    pack = _files(out)
    assert any(p.name == "postgres.log" for p in logs) and any(p.name == "evidence.json" for p in pack)
    leaks = [str(p) for p in logs + pack if password.encode() in p.read_bytes()]
    assert not leaks, f"the master password is written in {leaks}"
    readable = [f"{p} ({p.stat().st_mode & 0o777:o})" for p in logs if p.stat().st_mode & 0o077]
    assert not readable, f"logs others can read: {readable}"
    shown = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and password.encode() in (proc / "cmdline").read_bytes():
                shown.append(proc.name)
        except OSError:
            continue
    assert not shown, f"processes with the password on their command line: {shown}"
