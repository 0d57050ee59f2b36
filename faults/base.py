"""What every fault shares: journal first, inject, roll back in ``finally``, record on the timeline.

A fault is one reversible change made through the AWS API, used as a context manager::

    with faults.network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a"):
        ...  # observe

``__enter__`` journals the intent before the first AWS call. If injection fails half-way it rolls back
what it did and re-raises. ``__exit__`` rolls back whatever happened inside the block (exceptions,
KeyboardInterrupt, and SIGTERM, which is turned into an exception while a fault is active) and marks
the journal entry done. ``rollback(state)`` must be idempotent and work from any partial state,
because ``gameday recover`` calls it with whatever a killed run had journaled.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Callable, ClassVar

from botocore.exceptions import ClientError

from gameday.errors import FaultError
from gameday.journal import Entry, Journal
from gameday.timeline import Timeline

ClientFactory = Callable[[str, str], Any]
FAULT_TAG = "gameday:fault"  # every resource a fault creates carries it, so `gameday scan` finds leftovers


class Terminated(BaseException):
    """SIGTERM arrived while a fault was active; raised so that ``finally`` rolls it back."""


_active = 0
_active_lock = threading.Lock()
_previous_handler: Any = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum} while a fault was active; rolling back")


def _guard_sigterm(enter: bool) -> None:
    # Only the main thread may install handlers; faults in other threads rely on their owner.
    global _active, _previous_handler
    if threading.current_thread() is not threading.main_thread():
        return
    with _active_lock:
        if enter:
            if _active == 0:
                _previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
            _active += 1
        else:
            _active -= 1
            if _active == 0:
                signal.signal(signal.SIGTERM, _previous_handler or signal.SIG_DFL)


class Fault:
    name: ClassVar[str]

    def __init__(self, clients: ClientFactory, journal: Journal, timeline: Timeline | None = None) -> None:
        self.clients = clients
        self.journal = journal
        self.timeline = timeline
        self.entry: Entry | None = None

    # -- what each fault defines -----------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def inject(self, entry: Entry) -> None:
        """Make the change; journal every id needed to undo it with ``self.journal.progress`` first."""
        raise NotImplementedError

    def rollback(self, state: dict[str, Any]) -> None:
        """Undo from ``params | state``; idempotent."""
        raise NotImplementedError

    def targets(self) -> list[str]:
        """The ARNs or ids this fault changes, for the plan and the evidence."""
        return []

    @classmethod
    def restore(cls, clients: ClientFactory, state: dict[str, Any]) -> None:
        """Roll back a journaled entry of this fault without its original object (``gameday recover``)."""
        fault = cls.__new__(cls)
        Fault.__init__(fault, clients, journal=None)  # type: ignore[arg-type]
        fault.rollback(state)

    # -- the shared protocol ---------------------------------------------------------------------

    def _record(self, kind: str, **details: Any) -> None:
        if self.timeline is not None:
            self.timeline.record(kind, self.name, **details)

    def _translate(self, error: ClientError, doing: str) -> FaultError:
        code = error.response.get("Error", {}).get("Code", "?")
        message = error.response.get("Error", {}).get("Message", "")
        return FaultError(f"{self.name}: {doing} failed with {code}: {message} (params {self.params()})")

    def __enter__(self) -> "Fault":
        _guard_sigterm(True)
        self.entry = self.journal.begin(self.name, self.params())
        try:
            self.inject(self.entry)
        except BaseException as error:
            self._undo("injection failed")
            if isinstance(error, ClientError):
                raise self._translate(error, "injecting") from error
            raise
        self._record("fault_injected", params=self.params(), state=dict(self.entry.state), targets=self.targets())
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._undo("rolled back")

    def _undo(self, outcome: str) -> None:
        assert self.entry is not None
        try:
            self.rollback({**self.entry.params, **self.entry.state})
        except ClientError as error:
            self._record("fault_rollback_failed", error=str(error))
            raise self._translate(error, "rolling back") from error
        finally:
            _guard_sigterm(False)
        self.journal.done(self.entry, outcome)
        self._record("fault_rolled_back", outcome=outcome)
