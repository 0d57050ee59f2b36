"""The stack integration tests' wait: base.deadline.until with what is awaited first and a gentle poll."""
from __future__ import annotations

from typing import Any, Callable

from base import deadline


def until(condition: Callable[[], Any], what: str, timeout_s: float = 30, poll_s: float = 0.1) -> Any:
    """``condition()``'s first truthy value; DeadlineExceeded naming ``what`` and the last value after ``timeout_s``."""
    return deadline.until(condition, timeout_s, what, poll_s)
