"""Signals while faults are active in the main thread: SIGTERM rolls back, a stop condition interrupts.

- **SIGTERM** raises ``Terminated`` in the main thread, so ``finally`` rolls the fault back (SIGINT already
  raises KeyboardInterrupt).
- **A firing stop condition**: the watcher thread rolls back, then sends the main thread SIGURG so the
  experiment stops waiting at once; the handler raises ``Interrupted`` there. SIGURG is used because its
  default action is to be ignored: a signal that arrives after our handler is gone does no harm. The
  handler raises only while an experiment body runs, never while a fault is entering or rolling back.

Handlers are installed when the first fault enters in the main thread and restored when the last leaves.
Faults entered in other threads leave signals to their owner.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Terminated(BaseException):
    """SIGTERM arrived while a fault was active; raised so that ``finally`` rolls it back."""


class Interrupted(BaseException):
    """A stop condition fired while the experiment ran; the fault was already rolled back."""


_lock = threading.Lock()
_depth = 0  # faults active in the main thread
_previous: dict[int, Any] = {}
# Read by the handler, which runs in the main thread between bytecodes and so must not take _lock.
_bodies = 0  # main-thread faults whose `with` body is running
_busy = 0  # main-thread faults entering or rolling back: never interrupted
_requested = False  # a watcher asked for an interrupt that has not been delivered yet


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum} while a fault was active; rolling back")


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    global _requested
    if _requested and _bodies > 0 and _busy == 0:
        _requested = False
        raise Interrupted("a stop condition fired; the fault was rolled back")


def _main() -> bool:
    return threading.current_thread() is threading.main_thread()


def enter() -> None:
    """A fault starts (before its journal entry)."""
    global _depth
    if not _main():
        return
    with _lock:
        if _depth == 0:
            _previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
            _previous[signal.SIGURG] = signal.signal(signal.SIGURG, _on_interrupt)
        _depth += 1


def leave() -> None:
    """A fault ended (after its rollback)."""
    global _depth, _requested
    if not _main():
        return
    with _lock:
        _depth -= 1
        if _depth == 0:
            _requested = False
            for number, handler in _previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)
            _previous.clear()


def body(running: bool) -> None:
    """Mark the experiment body of a main-thread fault as running or not."""
    global _bodies
    if _main():
        with _lock:
            _bodies += 1 if running else -1


def busy(entering: bool) -> None:
    """Mark a main-thread fault as entering or rolling back (True) or done with that (False)."""
    global _busy
    if _main():
        with _lock:
            _busy += 1 if entering else -1


def interrupt_main() -> None:
    """Ask the main thread to stop its experiment body (from a watcher thread)."""
    global _requested
    if _main():
        return
    with _lock:
        if _depth > 0 and _bodies > 0:
            _requested = True
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGURG)
