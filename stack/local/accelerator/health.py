"""Global Accelerator's endpoint health checks, through the fabric like any client's connection.

Each endpoint of each group is checked every ``HealthCheckIntervalSeconds`` (10 or 30 AWS seconds,
scaled by the time scale) with its group's protocol: TCP (the connection opens), HTTP or HTTPS
(a GET of ``HealthCheckPath`` answers 200-399). ``ThresholdCount`` consecutive results the other
way flip an endpoint between HEALTHY and UNHEALTHY; before its first check it is INITIAL, and the
first result sets it. A check leaves from a checker address whose Region is nearest the endpoint's
(stack.local.geography), so the fabric applies the network ACLs and delays of that path: an
isolated Region fails its checks as it would on AWS.

The timeout of one check is ``CHECK_TIMEOUT_AWS_S`` scaled, never below ``MIN_TIMEOUT_S`` wall
seconds, because network delay is not scaled and a far endpoint must not time out for being far.
"""
from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from base.numbers import whole_number
from base.timescale import TimeScale
from stack.local.accelerator.routing import Endpoint, Group

CHECK_TIMEOUT_AWS_S = 5.0
MIN_TIMEOUT_S = 1.0
HEALTHY, UNHEALTHY, INITIAL = "HEALTHY", "UNHEALTHY", "INITIAL"


@dataclass
class _State:
    state: str = INITIAL
    reason: str = ""
    streak: int = 0  # consecutive results against the current state


async def probe(group: Group, endpoint: Endpoint, source: str, timeout_s: float) -> tuple[bool, str]:
    """One check of ``endpoint``: (passed, reason)."""
    settings = group.health
    try:
        async with asyncio.timeout(timeout_s):
            context = None
            if settings.protocol == "HTTPS":
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            reader, writer = await asyncio.open_connection(endpoint.address, settings.port, ssl=context,
                                                           local_addr=(source, 0))
            try:
                if settings.protocol == "TCP":
                    return True, "Connection established"
                writer.write(f"GET {settings.path} HTTP/1.1\r\nHost: {endpoint.address}:{settings.port}\r\n"
                             f"User-Agent: AWS Global Accelerator health check\r\nConnection: close\r\n\r\n".encode())
                await writer.drain()
                line = (await reader.readline()).decode("latin-1").split()
            finally:
                writer.transport.abort()
    except TimeoutError:
        return False, "Health check timed out"
    except OSError as error:
        return False, f"Connection failed: {error.strerror or error}"
    code = (whole_number(line[1]) or 0) if len(line) > 1 else 0
    if 200 <= code < 400:
        return True, f"HTTP {code}"
    return False, f"HTTP status {code or 'missing'}"


Probe = Callable[[Group, Endpoint, str, float], Awaitable[tuple[bool, str]]]


class HealthChecks:
    """The health of every endpoint, kept current by one task per endpoint on an asyncio loop."""

    def __init__(self, scale: TimeScale, source_for: Callable[[str], str], probe_fn: Probe = probe) -> None:
        self.scale = scale
        self.source_for = source_for  # endpoint Region -> the checker's source address
        self.probe = probe_fn
        self._states: dict[tuple[str, str], _State] = {}
        self._tasks: dict[tuple[str, str, Group], asyncio.Task[None]] = {}
        self._lock = threading.Lock()
        self.checks = 0

    def health_of(self, endpoint_group_arn: str, endpoint_id: str) -> tuple[str, str] | None:
        with self._lock:
            found = self._states.get((endpoint_group_arn, endpoint_id))
            return None if found is None or found.state == INITIAL else (found.state, found.reason)

    def routable(self, endpoint_group_arn: str, endpoint_id: str) -> bool:
        """Whether the endpoint takes traffic: anything but UNHEALTHY (a new endpoint is tried at once)."""
        with self._lock:
            found = self._states.get((endpoint_group_arn, endpoint_id))
            return found is None or found.state != UNHEALTHY

    def reconcile(self, groups: Iterable[Group]) -> None:
        """Check exactly these groups' endpoints (on the loop's thread): start new checks, stop gone ones."""
        wanted = {(g.arn, e.endpoint_id, g): e for g in groups for e in g.endpoints if e.address}
        for key in list(self._tasks):
            if key not in wanted:
                self._tasks.pop(key).cancel()
        for key, endpoint in wanted.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key[2], endpoint))
        live = {(arn, endpoint_id) for arn, endpoint_id, _ in wanted}
        with self._lock:
            for gone in [k for k in self._states if k not in live]:
                del self._states[gone]

    def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    def record(self, group: Group, endpoint: Endpoint, passed: bool, reason: str) -> None:
        """Count one result; flip the state after ThresholdCount in a row (the first result sets it)."""
        with self._lock:
            state = self._states.setdefault((group.arn, endpoint.endpoint_id), _State())
            self.checks += 1
            wanted = HEALTHY if passed else UNHEALTHY
            if state.state == INITIAL:
                state.state, state.reason, state.streak = wanted, reason, 0
            elif state.state == wanted:
                state.streak, state.reason = 0, reason
            else:
                state.streak += 1
                if state.streak >= group.health.threshold:
                    state.state, state.reason, state.streak = wanted, reason, 0

    async def _run(self, group: Group, endpoint: Endpoint) -> None:
        timeout_s = self.scale.timeout(CHECK_TIMEOUT_AWS_S, floor=MIN_TIMEOUT_S)
        interval_s = self.scale.to_wall(group.health.interval_s)
        source = self.source_for(group.region)
        while True:
            started = asyncio.get_running_loop().time()
            passed, reason = await self.probe(group, endpoint, source, timeout_s)
            self.record(group, endpoint, passed, reason)
            await asyncio.sleep(max(0.0, interval_s - (asyncio.get_running_loop().time() - started)))
