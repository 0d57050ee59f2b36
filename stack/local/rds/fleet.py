"""The DB instances the RDS part runs, by (Region, identifier), and the threads doing their operations.

One re-entrant lock guards the map and each instance's status transitions: the API handlers, the
monitor and ``health()`` take it. An operation's real effect (create, reboot, failover, delete...)
runs in its own thread (``run``); a failure marks the instance ``failed`` and keeps the reason for
``health()``, until the instance is deleted or, for work on no instance, the same work succeeds.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from stack.local.rds.database import Database


class Fleet:
    def __init__(self, log: logging.Logger) -> None:
        self.lock = threading.RLock()
        self.log = log
        self.stopping = threading.Event()
        self.settled: Callable[[], None] = lambda: None  # after each operation (the part records its nodes)
        self._dbs: dict[tuple[str, str], Database] = {}
        self._threads: set[threading.Thread] = set()
        # Why an operation's real effect failed: by (Region, identifier) for an instance (shown while it
        # is `failed`), by operation for work on no instance (a deletion that left servers behind).
        self._failures: dict[tuple[str, str], str] = {}

    def get(self, region: str, identifier: str) -> Database | None:
        with self.lock:
            return self._dbs.get((region, identifier.lower()))

    def add(self, database: Database) -> None:
        with self.lock:
            self._dbs[(database.region, database.identifier)] = database

    def pop(self, region: str, identifier: str) -> Database | None:
        with self.lock:
            return self._dbs.pop((region, identifier.lower()), None)

    def databases(self) -> list[Database]:
        with self.lock:
            return list(self._dbs.values())

    def take_all(self) -> list[Database]:
        """Every instance, removed from the fleet (the part is stopping)."""
        with self.lock:
            databases = list(self._dbs.values())
            self._dbs.clear()
        return databases

    def run(self, what: str, work: Callable[[], None], database: Database | None,
            about: Database | None = None) -> None:
        """Run an operation's real effect in its own thread; a failure marks ``database`` 'failed'.

        Work on no instance (``database`` None) that fails is kept as the part's own failure instead;
        ``about`` names the instance such work concerns (the monitor's log shipping, standby rebuilds...),
        so that, like an instance's own operation, it ends quietly when that instance is being deleted.
        """
        def body() -> None:
            try:
                work()
                if database is None:
                    with self.lock:
                        self._failures.pop(("", what), None)  # the same work done since: no longer failing
            except Exception as error:
                reason = f"RDS {what} failed: {type(error).__name__}: {error}"
                if self.stopping.is_set() or any(d is not None and d.stopping.is_set() for d in (database, about)):
                    self.log.info("RDS %s ended by stop", what)
                elif database is not None:
                    self.log.exception("RDS %s failed", what)
                    with self.lock:
                        self._failures[(database.region, database.identifier)] = reason
                    database.set_status("failed")
                else:
                    self.log.exception("RDS %s failed", what)
                    with self.lock:
                        self._failures[("", what)] = reason
            finally:
                self._threads.discard(threading.current_thread())
                self.settled()

        thread = threading.Thread(target=body, name=f"rds {what}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def join(self, timeout_s: float) -> None:
        """Wait for the operations running now (each up to ``timeout_s``)."""
        for thread in list(self._threads):
            thread.join(timeout=timeout_s)

    def problems(self, monitor_failing: Mapping[tuple[str, str], str]) -> list[str]:
        """Why the fleet is degraded: failed instances and work, and instances whose health check fails."""
        with self.lock:
            failed = {key for key, db in self._dbs.items() if db.status == "failed"}
            reasons = [f"{key[0]}/{key[1]}: {reason}" if key[0] else reason
                       for key, reason in sorted(self._failures.items()) if key in failed or not key[0]]
            reasons += [f"{key[0]}/{key[1]}: failed" for key in sorted(failed) if key not in self._failures]
            reasons += [f"{key[0]}/{key[1]}: its health check fails, so a failure of its primary goes unnoticed: "
                        f"{reason}" for key, reason in sorted(monitor_failing.items()) if key in self._dbs]
        return reasons
