"""One deadline loop for the stack's integration tests."""
from __future__ import annotations

import time
from typing import Any, Callable


def until(condition: Callable[[], Any], what: str, timeout_s: float = 30, poll_s: float = 0.1) -> Any:
    """``condition()``'s first truthy value; fails naming ``what`` and the last value after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(poll_s)
    raise AssertionError(f"waited {timeout_s} s for {what}; last: {last!r}")
