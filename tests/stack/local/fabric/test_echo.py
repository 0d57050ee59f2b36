"""The echo test double closes cleanly however its thread and close() interleave."""
from __future__ import annotations

from pathlib import Path

from .echo import EchoServer


def test_close_after_the_thread_already_stopped(short_dir: Path) -> None:
    # The race behind a teardown BrokenPipeError: the thread saw _running go False at a select
    # timeout and exited before close() sent its wake byte.
    server = EchoServer(short_dir / "echo.sock")
    server._running = False
    server._thread.join(5)
    assert not server._thread.is_alive()
    server.close()
