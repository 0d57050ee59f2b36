"""The DNS part's loop thread: uvloop's loop when installed (cheaper per UDP query), asyncio's otherwise."""
from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from stack.local.route53.loop import LoopThread, new_event_loop


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_the_loop_is_uvloops_when_installed() -> None:
    thread = LoopThread("test-route53-loop")
    try:
        assert isinstance(thread.loop, uvloop.Loop)
        assert thread.run(_answer()) == 42
    finally:
        thread.stop()


def test_without_uvloop_the_loop_is_asyncios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` raise ImportError
    loop = new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(_answer()) == 42
    finally:
        loop.close()
