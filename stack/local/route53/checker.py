"""The health checker: runs every endpoint check from each of its checker Regions, on the scaled interval.

Runs on an asyncio loop (the part's). Each (check, checker) pair issues a request every
RequestInterval x time_scale, staggered across the interval as AWS's checkers are, without waiting
for the previous one: a stalled endpoint still gets one request per interval. Results are counted in
the order the requests were sent; a late result older than one already counted is dropped. At most
``max_in_flight`` requests are open at once over all checks, and at most ``PER_CHECKER_IN_FLIGHT``
per checker; a tick that finds its checker saturated is skipped.

``update`` and ``stop`` must run on the loop; the status readers (``healthy``, ``observations``, ...)
are safe from any thread: they read immutable snapshots swapped in whole.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from base.timescale import TimeScale
from stack.local.route53 import health
from stack.local.geography import CheckerSite
from stack.local.route53.health import CheckerState, Observation, ProbeResult
from stack.local.route53.healthcheck import CheckType, HealthCheckSpec
from stack.local.route53.probe import Probe

PER_CHECKER_IN_FLIGHT = 3
StatusListener = Callable[[str, bool, float], None]  # check id, healthy, time.monotonic() of the change
AlarmState = Callable[[str, str], "str | None"]  # (Region, alarm name) -> OK, ALARM, INSUFFICIENT_DATA or None
ALARM_POLL_AWS_S = 10  # how often a CLOUDWATCH_METRIC check reads its alarm (AWS seconds, scaled)


@dataclass
class _Checker:
    site: CheckerSite
    state: CheckerState = field(default_factory=CheckerState)
    sent: int = 0
    counted: int = 0
    in_flight: int = 0
    observation: Observation | None = None
    last_failure: Observation | None = None


@dataclass
class _Check:
    spec: HealthCheckSpec
    checkers: dict[str, _Checker] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class HealthChecker:
    def __init__(
        self,
        sites_for: Callable[[tuple[str, ...]], tuple[CheckerSite, ...]],
        default_regions: tuple[str, ...],
        scale: TimeScale,
        probe: Probe,
        max_in_flight: int = 64,
        log: logging.Logger | None = None,
        on_status: StatusListener | None = None,
        alarm_state: AlarmState | None = None,
    ) -> None:
        self.sites_for = sites_for
        self.default_regions = default_regions
        self.scale = scale
        self.probe = probe
        self.max_in_flight = max_in_flight
        self.log = log or logging.getLogger(__name__)
        self.on_status = on_status
        self.alarm_state = alarm_state
        self._metric: dict[str, bool] = {}  # CLOUDWATCH_METRIC check id -> its last alarm_status
        self._checks: dict[str, _Check] = {}
        self._status: dict[str, bool] = {}  # snapshot, replaced whole
        self._semaphore: asyncio.Semaphore | None = None
        self._probes: set[asyncio.Task[None]] = set()
        self.requests_sent = 0
        self.version = 0  # bumped whenever the status snapshot is rebuilt (answer caches key on it)

    # --- readers (any thread)

    def healthy(self, check_id: str) -> bool:
        """The check's status; a check we do not know counts healthy (Route 53 rejects records naming one)."""
        return self._status.get(check_id, True)

    def statuses(self) -> dict[str, bool]:
        return dict(self._status)

    def knows(self, check_id: str) -> bool:
        return check_id in self._checks

    def observations(self, check_id: str) -> list[Observation]:
        check = self._checks.get(check_id)
        if check is None:
            return []
        if check.spec.check_type is CheckType.CLOUDWATCH_METRIC:
            return [self._alarm_observation(check.spec)]
        return [c.observation for c in list(check.checkers.values()) if c.observation is not None]

    def last_failures(self, check_id: str) -> list[Observation]:
        check = self._checks.get(check_id)
        if check is None:
            return []
        return [c.last_failure for c in list(check.checkers.values()) if c.last_failure is not None]

    def verdicts(self, check_id: str) -> dict[str, bool]:
        """Each checker Region's current verdict for ``check_id``."""
        check = self._checks.get(check_id)
        return {} if check is None else {r: c.state.healthy for r, c in list(check.checkers.items())}

    def in_flight(self) -> int:
        return len(self._probes)

    # --- control (event loop)

    def update(self, specs: Iterable[HealthCheckSpec]) -> None:
        """Make the running checks match ``specs``: start new ones, stop removed ones, apply changes."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_in_flight)
        wanted = {spec.id: spec for spec in specs}
        for check_id in [c for c in self._checks if c not in wanted]:
            self._cancel(self._checks.pop(check_id))
        for check_id, spec in wanted.items():
            check = self._checks.get(check_id)
            if check is None or self._must_restart(check.spec, spec):
                if check is not None:
                    self._cancel(check)
                check = self._checks[check_id] = _Check(spec)
                self._start(check)
            else:
                check.spec = spec  # Inverted, threshold, ...: keep each checker's verdict
        self._recompute()

    async def stop(self) -> None:
        for check in self._checks.values():
            self._cancel(check)
        tasks = [t for c in self._checks.values() for t in c.tasks] + list(self._probes)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._checks.clear()

    def _must_restart(self, old: HealthCheckSpec, new: HealthCheckSpec) -> bool:
        # A new endpoint, new Regions or re-enabling starts from "healthy until it has data".
        return (old.endpoint != new.endpoint or old.regions != new.regions or old.disabled != new.disabled
                or old.request_interval_s != new.request_interval_s)

    def _start(self, check: _Check) -> None:
        spec = check.spec
        if spec.check_type is CheckType.CLOUDWATCH_METRIC and not spec.disabled:
            check.tasks.append(asyncio.get_running_loop().create_task(
                self._follow_alarm(check), name=f"route53-check-{spec.id}-alarm"))
            return
        if not spec.check_type.is_endpoint or spec.disabled:
            return  # Route 53 sends no requests for a disabled check
        sites = self.sites_for(spec.regions or self.default_regions)
        interval = self.scale.to_wall(spec.request_interval_s)
        for i, site in enumerate(sites):
            checker = check.checkers[site.region] = _Checker(site)
            offset = interval * i / len(sites)
            check.tasks.append(asyncio.get_running_loop().create_task(
                self._tick(check, checker, interval, offset), name=f"route53-check-{spec.id}-{site.region}"))

    def _cancel(self, check: _Check) -> None:
        for task in check.tasks:
            task.cancel()

    async def _tick(self, check: _Check, checker: _Checker, interval_s: float, offset_s: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(offset_s)
        next_at = loop.time()
        while True:
            if checker.in_flight < PER_CHECKER_IN_FLIGHT:
                checker.sent += 1
                checker.in_flight += 1
                task = loop.create_task(self._probe_once(check, checker, checker.sent))
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)
            next_at += interval_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def _alarm_healthy(self, spec: HealthCheckSpec) -> bool:
        state = self.alarm_state(spec.alarm_region, spec.alarm_name) if self.alarm_state is not None else None
        return health.alarm_status(state, spec.insufficient_data, self._metric.get(spec.id, True))

    def _alarm_observation(self, spec: HealthCheckSpec) -> Observation:
        state = self.alarm_state(spec.alarm_region, spec.alarm_name) if self.alarm_state is not None else None
        healthy = self._metric.get(spec.id, True)
        return Observation(spec.alarm_region, "", healthy,
                           f"{'Success' if healthy else 'Failure'}: the CloudWatch alarm {spec.alarm_name} in "
                           f"{spec.alarm_region} is {state or 'missing'}", datetime.datetime.now(datetime.timezone.utc))

    async def _follow_alarm(self, check: _Check) -> None:
        """Read the alarm's state every scaled ALARM_POLL_AWS_S; recompute the statuses when the check's changes."""
        interval = self.scale.to_wall(ALARM_POLL_AWS_S)
        while True:
            if self._checks.get(check.spec.id) is check and self._alarm_healthy(check.spec) != self._metric.get(check.spec.id):
                self._recompute()
            await asyncio.sleep(interval)

    async def _probe_once(self, check: _Check, checker: _Checker, sequence: int) -> None:
        assert self._semaphore is not None
        try:
            async with self._semaphore:
                self.requests_sent += 1
                try:
                    result = await self.probe(check.spec, checker.site)
                except Exception as error:  # noqa: BLE001 - a probe bug must not stop the checker
                    self.log.exception("route53: probe of %s from %s failed", check.spec.id, checker.site.region)
                    result = ProbeResult(False, f"Failure: internal checker error: {error}")
        finally:
            checker.in_flight -= 1
        if sequence <= checker.counted or self._checks.get(check.spec.id) is not check:
            return  # a newer result was already counted, or the check was replaced meanwhile
        checker.counted = sequence
        observation = Observation(checker.site.region, checker.site.source_ip, result.success, result.status,
                                  datetime.datetime.now(datetime.timezone.utc))
        checker.observation = observation
        if not result.success:
            checker.last_failure = observation
        before = checker.state.healthy
        checker.state = checker.state.observe(result.success, check.spec.failure_threshold)
        if checker.state.healthy != before:
            self.log.info("route53: checker %s now sees %s %s (%s)", checker.site.region, check.spec.id,
                          "healthy" if checker.state.healthy else "unhealthy", result.status)
            self._recompute()

    def _recompute(self) -> None:
        """Rebuild the status snapshot: endpoint checks first, then calculated checks over them."""
        status: dict[str, bool] = {}
        calculated = []
        for check_id, check in self._checks.items():
            if check.spec.check_type is CheckType.CALCULATED:
                calculated.append(check)
                continue
            metric = True
            if check.spec.check_type is CheckType.CLOUDWATCH_METRIC:
                metric = self._metric[check_id] = self._alarm_healthy(check.spec)
            status[check_id] = health.status(check.spec, (c.state for c in check.checkers.values()), status.get, metric)
        for check_id in [c for c in self._metric if c not in self._checks]:
            del self._metric[check_id]
        for check in calculated:  # Route 53 does not nest calculated checks, so one pass is enough
            status[check.spec.id] = health.status(check.spec, (), status.get)
        now = time.monotonic()
        previous = self._status
        self._status = status
        self.version += 1
        for check_id, healthy in status.items():
            if previous.get(check_id) != healthy:
                if check_id in previous:
                    self.log.info("route53: health check %s is now %s", check_id, "healthy" if healthy else "unhealthy")
                if self.on_status is not None:
                    self.on_status(check_id, healthy, now)
