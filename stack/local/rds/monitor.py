"""RDS's own monitoring of every instance: failover, recovery, log shipping and CloudWatch metrics.

Checks, per instance that is 'available':
- the primary's process exited -> automatic failover (a synchronous Multi-AZ instance) or recovery
  in place (anything else), after RDS's detection time;
- the primary does not answer on its address (through the fabric, from outside its subnet) twice in
  a row, the second time just after its standby did -> its AZ is cut off: automatic failover; the old
  primary is killed first (fencing);
- the standby's process exited -> it is started again (or cloned afresh);
- a failover could not rebuild the old primary as the standby -> the rebuild is retried;
- the standby stopped streaming for the detection time -> the primary commits without it (no
  failover is possible meanwhile), until it streams again and is made synchronous again.
Every scaled 5 minutes WAL is shipped (LatestRestorableTime); every scaled minute ReplicaLag goes
to the control plane's CloudWatch.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from stack.local.rds.database import Database
from stack.local.rds.timing import RdsTiming
from stack.local.rds.wiring import Wiring

class Run(Protocol):
    """The fleet's ``run``: work on no instance (``database`` None) that concerns ``about``."""

    def __call__(self, what: str, work: Callable[[], None], database: Database | None,
                 about: Database | None = None) -> None: ...


class Monitor:
    def __init__(self, databases: Callable[[], list[Database]], run: Run, timing: RdsTiming, wiring: Wiring,
                 client: Callable[[str, str], Any], status_lock: threading.RLock, log: logging.Logger) -> None:
        self._databases = databases
        self._run = run
        self.timing = timing
        self.wiring = wiring
        self._client = client
        self._status_lock = status_lock
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: dict[str, Any] = {}
        # (Region, identifier) -> why its last check raised; while set, its failures go unnoticed.
        self.failing: dict[tuple[str, str], str] = {}

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="rds-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        # Cheap checks (is the process there?) run often; SQL and network probes every scaled health-check interval.
        tick_s = max(0.02, min(0.25, self.timing.scaled(self.timing.health_check_interval_s)))
        next_ship = time.monotonic() + self.timing.scaled(self.timing.log_shipping_interval_s)
        next_metric = time.monotonic() + self.timing.scaled(self.timing.metric_interval_s)
        while not self._stop.wait(tick_s):
            databases = self._databases()
            for database in databases:
                key = (database.region, database.identifier)
                try:
                    self.check(database)
                    self.failing.pop(key, None)
                except Exception as error:
                    if key not in self.failing:  # logged once per run of failures, not every tick
                        self.log.exception("health check of %s failed", database.identifier)
                    self.failing[key] = f"{type(error).__name__}: {error}"
            now = time.monotonic()
            if now >= next_ship:
                next_ship = now + self.timing.scaled(self.timing.log_shipping_interval_s)
                for database in databases:
                    if database.backups is not None and database.status == "available":
                        self._run(f"ship logs {database.identifier}", database.ship_logs, None, about=database)
            if now >= next_metric:
                next_metric = now + self.timing.scaled(self.timing.metric_interval_s)
                self.publish_metrics(databases)

    def check(self, database: Database) -> None:
        """One look at one instance (see the module's docstring)."""
        if database.status != "available" or database.stopping.is_set():
            return
        if not database.lock.acquire(blocking=False):
            return  # an operation is running on it; look again next time
        database.lock.release()
        primary, standby = database.primary, database.standby
        if primary is None:
            return
        if not primary.node.is_running():
            self.recover(database, "process exited")
            return
        now = time.monotonic()
        if database.standby_needs_rebuild:
            # Never start the old primary as it is (it would be a second primary): rewind or clone it, now and then.
            if now >= database.next_deep_check_at:
                database.next_deep_check_at = now + self.timing.scale.timeout(4 * self.timing.health_check_interval_s, floor=1.0)
                self._run(f"rebuild standby {database.identifier}", database.rebuild_standby, None, about=database)
            return
        if standby is not None and not standby.node.is_running():
            self._run(f"replace standby {database.identifier}", database.replace_standby, None, about=database)
            return
        if now < database.next_deep_check_at:
            return
        database.next_deep_check_at = now + self.timing.scale.timeout(self.timing.health_check_interval_s, floor=0.25)
        timeout_s = self.timing.probe_timeout_s
        if standby is not None and database.synchronous:
            # The primary's AZ is cut off when the primary misses two probes in a row and its standby answers
            # just before the second. A Region's cut (both AZs) is lifted one subnet at a time: asking the
            # standby first means the primary is asked after the cut is gone, and its probe keeps trying for
            # its whole timeout (wiring.answers), so it answers too and nothing fails over.
            if database.unreachable_probes and self.wiring.probe(standby, timeout_s) is not True:
                database.unreachable_probes = 0  # not the primary's AZ alone: count its misses afresh
                return
            if self.wiring.probe(primary, timeout_s) is False:
                database.unreachable_probes += 1
                if database.unreachable_probes >= 2:
                    database.unreachable_probes = 0  # spent: the next primary's misses count from none
                    self.recover(database, "is unreachable on its address")
                return
        database.unreachable_probes = 0
        if standby is None:
            return
        streaming = database.standby_streaming()
        if database.synchronous and not streaming:
            if database.standby_lost_since is None:
                database.standby_lost_since = now + self.timing.sample(self.timing.failover_detection_s)
            elif now >= database.standby_lost_since:
                self._run(f"degrade {database.identifier}", database.degrade, None, about=database)
        elif database.synchronous:
            database.standby_lost_since = None
        elif streaming:
            self._run(f"resync {database.identifier}", database.resync, None, about=database)

    def recover(self, database: Database, why: str) -> None:
        """Fail over (synchronous Multi-AZ) or recover in place (anything else), after RDS's detection time."""
        noticed = time.monotonic()
        with self._status_lock:
            if database.status != "available":
                return
            database.set_status("rebooting")
        failover = database.standby is not None and database.synchronous
        self.log.warning("%s %s: the primary %s; %s", database.region, database.identifier, why,
                         "failing over" if failover else "recovering in place")

        def work() -> None:
            # RDS's health checks take a while to declare a primary dead: wait out that (scaled) time.
            remaining = self.timing.sample(self.timing.failover_detection_s) - (time.monotonic() - noticed)
            database.stopping.wait(max(0.0, remaining))
            if failover:
                database.failover(automatic=True)
            else:
                database.recover_single_az()

        self._run(f"automatic recovery {database.identifier}", work, database)

    def publish_metrics(self, databases: list[Database]) -> None:
        """ReplicaLag of every read replica into the control plane's CloudWatch (AWS/RDS)."""
        for database in databases:
            if database.source is None or database.status not in ("available", "modifying"):
                continue
            lag = database.replica_lag_s()
            if lag is None:
                continue
            try:
                if database.region not in self._clients:
                    self._clients[database.region] = self._client("cloudwatch", database.region)
                self._clients[database.region].put_metric_data(
                    Namespace="AWS/RDS",
                    MetricData=[{"MetricName": "ReplicaLag", "Unit": "Seconds", "Value": lag,
                                 "Timestamp": datetime.now(timezone.utc),
                                 "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": database.identifier}]}])
            except Exception as error:
                self.log.warning("publishing ReplicaLag of %s failed: %s", database.identifier, error)
