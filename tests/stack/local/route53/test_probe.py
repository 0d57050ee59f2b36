"""Real probes against real endpoints on 127.x: AWS's pass rules and status texts, and a check following an
endpoint that goes down and comes back."""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from pathlib import Path
from typing import Callable, Iterator

import pytest

from base.deadline import until
from base.timescale import TimeScale
from stack.local.instance import Instance
from stack.local.route53 import probe as probes
from stack.local.route53.checker import HealthChecker
from stack.local.geography import checker_links, site_for, sites_for
from stack.local.route53.health import ProbeResult
from stack.local.route53.healthcheck import CheckType, HealthCheckSpec
from stack.local.route53.loop import LoopThread
from stack.local.route53.probe import Prober

from .endpoint import TargetServer
from .served import environment


def instance() -> Instance:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return Instance(1 + int(worker.removeprefix("gw") or 0) % 9, environment())


SITE = site_for(instance(), "eu-west-1")


# Generous timeouts: a loaded machine must not turn a healthy endpoint into a failure. Only the timeout
# test uses a short one, where the wait is the point.
PATIENT = Prober(TimeScale(0.01), min_timeout_s=3.0)


def run_probe(spec: HealthCheckSpec, prober: Prober | None = None) -> ProbeResult:
    return asyncio.run((prober or PATIENT)(spec, SITE))


def check(endpoint_port: int, check_type: CheckType = CheckType.HTTP, **kw: object) -> HealthCheckSpec:
    defaults: dict[str, object] = {"id": "hc", "check_type": check_type, "ip_address": "127.0.0.1",
                                   "port": endpoint_port, "resource_path": "/health"}
    defaults.update(kw)
    return HealthCheckSpec(**defaults)  # type: ignore[arg-type]


@pytest.fixture
def endpoint() -> Iterator[TargetServer]:
    with TargetServer() as e:
        yield e


def test_http_200_is_success_with_aws_text_from_the_checker_address(endpoint: TargetServer) -> None:
    result = run_probe(check(endpoint.port))
    assert result == ProbeResult(True, "Success: HTTP Status Code 200, OK")
    assert endpoint.sources() == {SITE.source_ip}
    assert endpoint.requests[0][1:] == ("/health", f"127.0.0.1:{endpoint.port}")


def test_3xx_passes_and_5xx_fails(endpoint: TargetServer) -> None:
    endpoint.status = 302
    assert run_probe(check(endpoint.port)).success
    endpoint.status = 503
    assert run_probe(check(endpoint.port)) == ProbeResult(False, "Failure: HTTP Status Code 503, Service Unavailable")


def test_host_header_is_the_fqdn_with_port(endpoint: TargetServer) -> None:
    run_probe(check(endpoint.port, fqdn="shop.example.com"))
    assert endpoint.requests[-1][2] == f"shop.example.com:{endpoint.port}"


def test_refused_connection(endpoint: TargetServer) -> None:
    port = endpoint.port
    endpoint.kill()
    result = run_probe(check(port))
    assert not result.success and result.status.startswith("Failure: Connection refused")


def test_accepted_but_silent_endpoint_times_out_waiting_for_the_status() -> None:
    # The kernel completes the handshake into the backlog; nobody ever reads: what a fabric stall looks like.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        result = run_probe(check(silent.getsockname()[1]), Prober(TimeScale(0.01), min_timeout_s=0.3))
    assert not result.success and result.status.startswith("Failure: The endpoint did not return an HTTP status")


@pytest.mark.parametrize(("body", "found"), [(b"status: ok", True), (b"status: down", False),
                                             (b"x" * 5200 + b"status: ok", False), (b"x" * 5100 + b"ok", True)])
def test_string_match_searches_the_first_5120_bytes(endpoint: TargetServer, body: bytes, found: bool) -> None:
    endpoint.body = body
    result = run_probe(check(endpoint.port, CheckType.HTTP_STR_MATCH, search_string="ok"))
    assert result.success is found, result.status


def test_string_match_is_case_sensitive(endpoint: TargetServer) -> None:
    endpoint.body = b"OK"
    assert not run_probe(check(endpoint.port, CheckType.HTTP_STR_MATCH, search_string="ok")).success


def test_tcp_connects_only(endpoint: TargetServer) -> None:
    assert run_probe(check(endpoint.port, CheckType.TCP)) == ProbeResult(True, probes.TCP_OK)
    assert endpoint.count() == 0, "a TCP check sends no HTTP request"


def test_https_does_not_validate_and_sends_sni_only_when_enabled(tmp_path: Path) -> None:
    with TargetServer(tls_dir=tmp_path) as tls:
        assert run_probe(check(tls.port, CheckType.HTTPS)).success
        assert run_probe(check(tls.port, CheckType.HTTPS_STR_MATCH, search_string="good", fqdn="shop.example.com",
                               enable_sni=True)).success
        assert tls.server_names == [None, "shop.example.com"]


def test_fqdn_without_ip_is_resolved(endpoint: TargetServer) -> None:
    prober = Prober(TimeScale(0.01), resolve=lambda name: "127.0.0.1" if name == "shop.example.com" else None, min_timeout_s=3.0)
    assert run_probe(check(endpoint.port, ip_address="", fqdn="shop.example.com"), prober).success
    result = run_probe(check(endpoint.port, ip_address="", fqdn="nowhere.example.com"), prober)
    assert not result.success and "DNS resolution" in result.status


def test_timeouts_are_scaled_with_a_floor() -> None:
    assert probes.Timeouts.for_check(CheckType.HTTP, TimeScale.REAL) == probes.Timeouts(4.0, 2.0)
    assert probes.Timeouts.for_check(CheckType.HTTP, TimeScale(0.1)) == probes.Timeouts(1.0, 1.0)
    assert probes.Timeouts.for_check(CheckType.TCP, TimeScale(0.5)).connect_s == 5.0


def test_checker_links_cover_every_checker_region_with_rtts() -> None:
    env = environment()
    links = checker_links(env, instance())
    assert len(links) == 8 and len({link.cidr for link in links}) == 8
    by_region = {link.region: link for link in links}
    assert by_region["us-east-1"].rtt_ms["eu-central-1"] == env.rtt_ms("us-east-1", "eu-central-1")
    assert by_region["us-east-1"].rtt_ms["us-east-1"] == 0.0
    assert by_region["eu-west-1"].rtt_ms["eu-central-1"] == 25.0  # public table
    assert 150 < by_region["sa-east-1"].rtt_ms["ap-southeast-1"] < 400
    assert ipaddress.ip_address(SITE.source_ip) in ipaddress.ip_network(by_region["eu-west-1"].cidr)


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    until(predicate, timeout_s, what, interval_s=0.01)


def test_check_follows_a_real_endpoint_down_and_up(endpoint: TargetServer) -> None:
    regions = ("us-east-1", "eu-west-1", "ap-southeast-1")
    scale = TimeScale(0.01)  # RequestInterval 10 s -> 0.1 s
    loop = LoopThread("test-route53-follow")
    checker = HealthChecker(lambda r: sites_for(instance(), r), regions, scale,
                            Prober(scale, min_timeout_s=1.0))
    spec = check(endpoint.port, request_interval_s=10, failure_threshold=3)

    async def apply() -> None:
        checker.update([spec])
    try:
        loop.run(apply())
        wait_until(lambda: endpoint.sources() == {s.source_ip for s in sites_for(instance(), regions)},
                   "a request from each checker's own address")
        assert checker.healthy("hc")
        endpoint.status = 500
        served_before = endpoint.count()
        wait_until(lambda: not checker.healthy("hc"), "the check to see the endpoint fail")
        # Every checker needed FailureThreshold consecutive failures before turning.
        assert endpoint.count() - served_before >= 3 * len(regions) - 2
        assert all("HTTP Status Code 500" in o.status for o in checker.observations("hc"))
        endpoint.kill()
        wait_until(lambda: all("Connection refused" in o.status for o in checker.observations("hc")),
                   "every checker to see the endpoint dead")
        assert not checker.healthy("hc")
        endpoint.status = 200
        endpoint.start()
        wait_until(lambda: checker.healthy("hc"), "the check to see the endpoint back")
        assert {o.region for o in checker.last_failures("hc")} == set(regions)
    finally:
        try:
            loop.run(checker.stop())
        finally:
            loop.stop()
