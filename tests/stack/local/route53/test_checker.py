"""The health checker's scheduling and status, with an injected probe (no network)."""
from __future__ import annotations

import asyncio
import collections
from typing import Callable, Iterator

import pytest

from base.deadline import until
from environments.model import CHECKER_REGIONS
from base.timescale import TimeScale
from stack.local.route53.checker import HealthChecker
from stack.local.geography import CheckerSite
from stack.local.route53.health import ProbeResult
from stack.local.route53.healthcheck import CheckType, HealthCheckSpec
from stack.local.route53.loop import LoopThread

SCALE = TimeScale(0.01)  # RequestInterval 10 s -> 0.1 s
THREE = ("us-east-1", "eu-west-1", "ap-southeast-1")


class ScriptedProbe:
    """Answers from ``failing`` (check id -> Regions that fail); counts calls and concurrency."""

    def __init__(self) -> None:
        self.failing: dict[str, set[str]] = collections.defaultdict(set)
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.hold: asyncio.Event | None = None
        self.concurrent = 0
        self.max_concurrent = 0

    async def __call__(self, spec: HealthCheckSpec, site: CheckerSite) -> ProbeResult:
        self.calls[(spec.id, site.region)] += 1
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if site.region in self.failing[spec.id]:
                return ProbeResult(False, "Failure: HTTP Status Code 503, Service Unavailable")
            return ProbeResult(True, "Success: HTTP Status Code 200, OK")
        finally:
            self.concurrent -= 1


class Harness:
    def __init__(self, max_in_flight: int = 64) -> None:
        self.loop = LoopThread("test-route53-checker")
        self.probe = ScriptedProbe()
        self.changes: list[tuple[str, bool]] = []
        self.checker = HealthChecker(
            sites_for=lambda regions: tuple(CheckerSite(r, f"127.211.{CHECKER_REGIONS.index(r) + 1}.1") for r in regions),
            default_regions=tuple(CHECKER_REGIONS), scale=SCALE, probe=self.probe,
            max_in_flight=max_in_flight, on_status=lambda i, h, _t: self.changes.append((i, h)))

    def update(self, *specs: HealthCheckSpec) -> None:
        async def apply() -> None:
            self.checker.update(specs)
        self.loop.run(apply())

    def close(self) -> None:
        try:
            self.loop.run(self.checker.stop())
        finally:
            self.loop.stop()


def http(check_id: str, **kw: object) -> HealthCheckSpec:
    defaults: dict[str, object] = {"id": check_id, "check_type": CheckType.HTTP, "ip_address": "127.0.0.9",
                                   "request_interval_s": 10, "failure_threshold": 2}
    defaults.update(kw)
    return HealthCheckSpec(**defaults)  # type: ignore[arg-type]


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    until(predicate, timeout_s, what, interval_s=0.01)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


def test_new_check_is_healthy_before_data_and_inverted_unhealthy(harness: Harness) -> None:
    harness.probe.hold = None
    harness.update(http("plain", regions=THREE), http("inv", regions=THREE, inverted=True))
    assert harness.checker.healthy("plain") is True
    assert harness.checker.healthy("inv") is False


def test_turns_unhealthy_after_threshold_failures_from_each_checker_and_back(harness: Harness) -> None:
    harness.update(http("hc", regions=THREE, failure_threshold=3))
    wait_until(lambda: all(harness.probe.calls[("hc", r)] >= 1 for r in THREE), "one request from every checker")
    harness.probe.failing["hc"] = set(THREE)
    calls_at_failure = dict(harness.probe.calls)
    wait_until(lambda: not harness.checker.healthy("hc"), "the check to turn unhealthy")
    # Each checker needed 3 consecutive failures; with all 3 failing, the check turns when 1/3 (33% > 18%)
    # is still healthy no more, i.e. after every checker counted its third failure.
    for region in THREE:
        assert harness.probe.calls[("hc", region)] - calls_at_failure.get(("hc", region), 0) >= 3
    observations = harness.checker.observations("hc")
    assert {o.region for o in observations} == set(THREE)
    assert all(o.status.startswith("Failure: HTTP Status Code 503") for o in observations)
    assert all(o.ip_address.startswith("127.211.") for o in observations)
    harness.probe.failing["hc"] = set()
    wait_until(lambda: harness.checker.healthy("hc"), "the check to turn healthy again")
    assert harness.changes == [("hc", True), ("hc", False), ("hc", True)]
    assert len(harness.checker.last_failures("hc")) == 3


def test_18_percent_rule_with_eight_checkers(harness: Harness) -> None:
    harness.update(http("two-left"), http("one-left"))
    harness.probe.failing["two-left"] = set(CHECKER_REGIONS[:6])  # 2/8 = 25% healthy
    harness.probe.failing["one-left"] = set(CHECKER_REGIONS[:7])  # 1/8 = 12.5% healthy
    wait_until(lambda: sum(not v for v in harness.checker.verdicts("two-left").values()) == 6,
               "six checkers of two-left to see it unhealthy")
    wait_until(lambda: not harness.checker.healthy("one-left"), "one-left to turn unhealthy")
    assert harness.checker.healthy("two-left")


def test_disabled_check_sends_nothing_and_stays_healthy(harness: Harness) -> None:
    harness.probe.failing["off"] = set(THREE)
    harness.update(http("off", regions=THREE, disabled=True, inverted=True), http("on", regions=THREE))
    wait_until(lambda: all(harness.probe.calls[("on", r)] >= 3 for r in THREE), "three rounds of the enabled check")
    assert not any(check == "off" for check, _ in harness.probe.calls)
    assert harness.checker.healthy("off")


def test_update_inverted_flips_at_once_and_keeps_verdicts(harness: Harness) -> None:
    harness.update(http("hc", regions=THREE))
    wait_until(lambda: all(harness.probe.calls[("hc", r)] >= 1 for r in THREE), "first results")
    harness.update(http("hc", regions=THREE, inverted=True, version=2))
    assert harness.checker.healthy("hc") is False
    harness.update(http("hc", regions=THREE, inverted=False, version=3))
    assert harness.checker.healthy("hc") is True


def test_calculated_follows_its_children(harness: Harness) -> None:
    calculated = HealthCheckSpec("calc", CheckType.CALCULATED, health_threshold=2, children=("a", "b", "off"))
    harness.update(http("a", regions=THREE), http("b", regions=THREE), http("off", regions=THREE, disabled=True),
                   calculated)
    assert harness.checker.healthy("calc")
    harness.probe.failing["a"] = set(THREE)
    wait_until(lambda: not harness.checker.healthy("a"), "child a to turn unhealthy")
    assert harness.checker.healthy("calc"), "b and the disabled child still make 2"
    harness.probe.failing["b"] = set(THREE)
    wait_until(lambda: not harness.checker.healthy("calc"), "calc to turn unhealthy with one healthy child")


def test_removed_check_stops_and_is_forgotten(harness: Harness) -> None:
    harness.update(http("gone", regions=THREE))
    wait_until(lambda: harness.probe.calls[("gone", "us-east-1")] >= 1, "a first request")
    harness.update()
    assert not harness.checker.knows("gone") and harness.checker.observations("gone") == []


def test_requests_in_flight_are_bounded() -> None:
    h = Harness(max_in_flight=4)
    try:
        async def hold() -> None:
            h.probe.hold = asyncio.Event()
        h.loop.run(hold())
        h.update(http("x"), http("y"))  # 16 checkers, every probe held open
        wait_until(lambda: h.checker.in_flight() >= 16, "every checker to have a request pending")
        assert h.probe.max_concurrent == 4

        async def release() -> None:
            assert h.probe.hold is not None
            h.probe.hold.set()
        h.loop.run(release())
        wait_until(lambda: len(h.checker.observations("x")) == 8, "results after release")
        assert h.probe.max_concurrent <= 4
    finally:
        h.close()
