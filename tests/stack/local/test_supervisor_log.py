"""The supervisor's log is private (0600) and masks secrets in every line, tracebacks included.

No stack is started: only the supervisor's logging set-up, with its log directory in tmp_path.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from environments import loader
from gameday.fixtures import default_instance
from stack.local import supervisor
from stack.local.instance import Instance


def test_the_supervisor_log_is_private_and_masks_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    environment = loader.load("local")
    instance = Instance(default_instance(), environment)
    log_file = instance.log_dir / "supervisor.log"
    log_file.parent.mkdir(parents=True)
    log_file.write_text("an earlier run\n")
    log_file.chmod(0o644)  # a log left by an older version: narrowed before reuse
    root = logging.getLogger("gameday")
    before, level = list(root.handlers), root.level
    try:
        supervisor.Supervisor(environment, instance, parts=())._setup_logging()
        log = logging.getLogger("gameday.test")
        log.warning("pg_basebackup failed: host='127.80.1.10' user='securecart' password='Hunter2-Hunter2'")
        try:
            raise RuntimeError("could not connect to postgresql://securecart:Correct-Horse-9@127.80.1.10/orders")
        except RuntimeError:
            log.exception("connecting failed")
    finally:
        for handler in root.handlers[len(before):]:
            handler.close()
            root.removeHandler(handler)
        root.setLevel(level)
    text = log_file.read_text()
    assert log_file.stat().st_mode & 0o777 == 0o600
    assert "pg_basebackup failed" in text and "Traceback" in text and "RuntimeError" in text
    assert "Hunter2-Hunter2" not in text and "Correct-Horse-9" not in text, text
