"""``AcceleratorPart``: Global Accelerator's static addresses, routing each connection to the nearest healthy Region.

The control plane stores accelerators (stack.local.controlplane.globalaccelerator); this part reads
them back through the API after every change, listens on each enabled accelerator's two static
addresses and listener ports (forwarder.py), routes each new connection by the client's RTT, the
dials, weights and endpoint health (routing.py), and checks every endpoint through the fabric
(health.py). It provides ``AcceleratorHealth``, which DescribeEndpointGroup's HealthState shows.

Everything runs on one asyncio loop in one thread; the configuration is re-read off the loop.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar, Mapping

from stack.local.accelerator import config
from stack.local.accelerator.forwarder import IDLE_TIMEOUT_AWS_S, Relay, rtt_table
from stack.local.accelerator.health import HealthChecks
from stack.local.geography import checker_links, site_for
from stack.local.part import ApiHandler, Change, ChangeNotApplied, Health, PartContext
from stack.local.services import AcceleratorHealth

# EC2 calls that move an endpoint's address or take it away (re-read the endpoints' addresses).
_EC2_CHANGES = frozenset({"RunInstances", "StartInstances", "StopInstances", "TerminateInstances"})
START_TIMEOUT_S = 30.0


class AcceleratorPart:
    name: ClassVar[str] = "accelerator"
    provides: ClassVar[tuple[type, ...]] = (AcceleratorHealth,)
    requires: ClassVar[tuple[type, ...]] = ()

    def __init__(self) -> None:
        self.context: PartContext | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.checks: HealthChecks | None = None
        self.relay: Relay | None = None
        self.problems: list[str] = []
        self._reload = threading.Lock()

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: one thread, sockets it closes, no files."""
        return []

    def start(self, context: PartContext) -> None:
        self.context = context
        env = context.environment
        links = checker_links(env, context.instance)

        def source_for(region: str) -> str:  # the checker nearest the endpoint's Region
            nearest = min(links, key=lambda link: link.rtt_ms.get(region, float("inf")))
            return site_for(context.instance, nearest.region).source_ip

        self.checks = HealthChecks(context.timescale, source_for)
        vantage = {name: (vp.subnet, dict(vp.rtt_ms)) for name, vp in env.vantage_points.items()}
        self.relay = Relay(rtt_table(vantage), self.checks.routable, context.timescale.to_wall(IDLE_TIMEOUT_AWS_S))
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="accelerator", daemon=True)
        self.thread.start()
        ready.wait(START_TIMEOUT_S)
        self.reload()

    def _run(self, ready: threading.Event) -> None:
        loop = self.loop = asyncio.new_event_loop()
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        loop, self.loop = self.loop, None
        if loop is None:
            return

        async def close() -> None:
            if self.checks is not None:
                self.checks.stop()
            if self.relay is not None:
                await self.relay.close()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None

    def reload(self) -> None:
        """Read the configuration through the API and apply it on the loop (one reload at a time)."""
        if self.context is None or self.loop is None or self.relay is None or self.checks is None:
            return
        with self._reload:
            listeners, problems = config.read(self.context.client)
            relay, checks = self.relay, self.checks

            async def apply() -> list[str]:
                groups = {g.arn: g for li in listeners.values() for g in li.groups}
                checks.reconcile(groups.values())
                return await relay.reconcile(listeners)

            bound = asyncio.run_coroutine_threadsafe(apply(), self.loop).result(timeout=30)
            self.problems = problems + bound

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        request = change.request
        if request.service == "globalaccelerator" or (request.service == "ec2" and request.operation in _EC2_CHANGES):
            # Applied before the call returns: a new listener listens, a new dial routes, when it answers.
            try:
                self.reload()
            except Exception as error:  # noqa: BLE001 - any failure to apply fails the call (503) and is reported
                self.problems = [f"reading the configuration failed: {type(error).__name__}: {error}"]
                raise ChangeNotApplied(self.name, self.problems[0]) from error

    def health_of(self, endpoint_group_arn: str, endpoint_id: str) -> tuple[str, str] | None:
        return self.checks.health_of(endpoint_group_arn, endpoint_id) if self.checks is not None else None

    def health(self) -> Health:
        return Health.of(self.problems)

    def status(self) -> Mapping[str, Any]:
        relay = self.relay
        listening = sorted(f"{a}:{p}" for a, p in relay.listeners) if relay is not None else []
        return {"listening": listening, "routed": dict(relay.routed) if relay is not None else {},
                "failed": relay.failed if relay is not None else 0,
                "health_checks": self.checks.checks if self.checks is not None else 0}
