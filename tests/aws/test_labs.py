"""The three labs against a real account: the smoke test that the AWS path works where it matters.

Run with ``pytest tests/aws --env <your aws environment>`` (docs/real-aws.md: cost, time, permissions).
Every test is skipped with the reason when there are no credentials, or they are for another account.
The faults run under the session's guard: the allowlist, the target tag and the stop conditions apply,
and ``--dry-run`` plans them instead (each lab is then reported as skipped, with its plan).
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

import pytest

from base.deadline import until
from faults import rds, route53
from faults.guard import Guard
from faults.journal import Journal
from base.timeline import Timeline
from probes import dns, state
from tests.aws.conftest import Account
from tests.aws.discovery import SecureCart

pytestmark = [pytest.mark.requires_aws, pytest.mark.slow]
T = TypeVar("T")
POLL_S = 5.0


def _await(read: Callable[[], T | None], deadline_s: float, awaiting: str) -> T:
    """Poll ``read`` until it returns something; AssertionError naming what was awaited after the deadline."""
    # A timeout of one query is a sample, not the end of the lab.
    return until(read, deadline_s, awaiting, POLL_S, ignore=(Exception,))


def _nearest(account: Account, securecart: SecureCart, vantage: str) -> str:
    rtt = account.environment.vantage_points[vantage].rtt_ms
    return min((r for r in rtt if r in securecart.regional_addresses), key=rtt.__getitem__)


def test_the_guard_accepts_this_account(account: Account, gameday_guard: Guard, clients: Any) -> None:
    caller = gameday_guard.check_caller(clients, list(account.environment.regions), "smoke test")
    assert caller.account_id == account.account_id


def test_lab1_latency_routing(account: Account, securecart: SecureCart, name_server: str) -> None:
    """Each vantage point is answered from its nearest Region; EU users from the EU (geolocation)."""
    assert account.environment.vantage_points, "the environment names no vantage points"
    for name, vantage in account.environment.vantage_points.items():
        nearest = _nearest(account, securecart, name)
        answer = dns.query(securecart.names.latency, name_server, 53, client_subnet=vantage.subnet, timeout_s=5)
        assert answer.rcode == "NOERROR" and answer.addresses, f"{name}: {securecart.names.latency} gave {answer}"
        assert set(answer.addresses) <= securecart.regional_addresses[nearest], (
            f"{name}: answered {answer.addresses}, not from its nearest Region {nearest} "
            f"({sorted(securecart.regional_addresses[nearest])})")
        if vantage.continent == "EU" and "eu-central-1" in securecart.regional_addresses:
            geo = dns.query(securecart.names.geo, name_server, 53, client_subnet=vantage.subnet, timeout_s=5)
            assert set(geo.addresses) <= securecart.regional_addresses["eu-central-1"], f"{name}: geo answered {geo}"


def test_lab2_route53_failover(account: Account, securecart: SecureCart, name_server: str, clients: Any,
                               journal: Journal, timeline: Timeline) -> None:
    """Failing the primary Region's health checks moves its users within interval x threshold + TTL; failback works."""
    environment = account.environment
    primary = environment.active_regions[0]
    checks = securecart.health_checks.get(primary)
    if not checks:
        pytest.skip(f"no health check of {primary} carries the target tag {environment.target_tag}")
    vantage = next(n for n in environment.vantage_points if _nearest(account, securecart, n) == primary)
    subnet = environment.vantage_points[vantage].subnet
    stack = environment.stack
    window_s = stack.health_check_interval_s * stack.health_check_failure_threshold + stack.record_ttl_s + 60

    def addresses() -> set[str]:
        return set(dns.query(securecart.names.checkout, name_server, 53, client_subnet=subnet, timeout_s=5).addresses)

    with contextlib.ExitStack() as faults:
        for check in checks:
            faults.enter_context(route53.FailHealthCheck(clients, journal, health_check_id=check, timeline=timeline))
        moved = _await(lambda: (a := addresses()) and not a & securecart.regional_addresses[primary] and a,
                       window_s, f"{vantage} to be moved off {primary}")
        assert moved
    _await(lambda: (a := addresses()) and a <= securecart.regional_addresses[primary] and a, window_s,
           f"{vantage} to fail back to {primary}")


def test_lab3_multi_az_rds(account: Account, securecart: SecureCart, clients: Any, journal: Journal,
                           timeline: Timeline) -> None:
    """Reboot with failover: the AZs swap and RDS reports the failover events."""
    region, identifier = securecart.database_region, securecart.database_identifier
    before = state.db_state(clients, region, identifier)
    if not before.secondary_availability_zone:
        pytest.skip(f"{identifier} reports no SecondaryAvailabilityZone: it is not a Multi-AZ instance")
    since = datetime.now(timezone.utc)
    with rds.RebootWithFailover(clients, journal, region=region, db_instance_identifier=identifier, timeline=timeline,
                                wait_delay_s=15, wait_attempts=80):
        pass  # the rollback waits until the instance is available again
    after = state.db_state(clients, region, identifier)
    assert (after.availability_zone, after.secondary_availability_zone) == (
        before.secondary_availability_zone, before.availability_zone), f"the AZs did not swap: {before} -> {after}"

    def failover_events() -> list[str] | None:
        messages = [event.message for event in state.db_events(clients, region, identifier, since)]
        started = any("failover started" in m for m in messages)
        completed = any("failover completed" in m or "failover to standby complete" in m for m in messages)
        return messages if started and completed else None

    _await(failover_events, 600, f"{identifier}'s failover events (RDS-EVENT-0013 and -0049)")
