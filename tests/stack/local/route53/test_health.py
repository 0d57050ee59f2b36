"""Status rules: FailureThreshold in both directions, the 18% rule, Inverted, Disabled, CALCULATED."""
from __future__ import annotations

import dataclasses

import pytest

from stack.local.route53.health import CheckerState, alarm_status, checkers_healthy, status
from stack.local.route53.healthcheck import CheckType, HealthCheckSpec


def spec(**kw: object) -> HealthCheckSpec:
    defaults: dict[str, object] = {"id": "hc", "check_type": CheckType.HTTP, "ip_address": "127.0.0.9"}
    defaults.update(kw)
    return HealthCheckSpec(**defaults)  # type: ignore[arg-type]


def run(results: list[bool], threshold: int) -> list[bool]:
    state = CheckerState()
    seen = []
    for result in results:
        state = state.observe(result, threshold)
        seen.append(state.healthy)
    return seen


def test_a_new_checker_is_healthy_until_it_has_data() -> None:
    assert CheckerState().healthy


def test_threshold_consecutive_failures_to_turn_unhealthy() -> None:
    assert run([False, False, False], 3) == [True, True, False]


def test_a_success_resets_the_failure_streak() -> None:
    assert run([False, False, True, False, False, False], 3) == [True, True, True, True, True, False]


def test_threshold_consecutive_successes_to_turn_healthy_again() -> None:
    assert run([False] * 3 + [True, True, False, True, True, True], 3)[-6:] == [False, False, False, False, False, True]


def test_threshold_one_follows_every_result() -> None:
    assert run([False, True, False], 1) == [False, True, False]


@pytest.mark.parametrize(("healthy", "total", "expected"), [
    (2, 8, True),    # 25% > 18%
    (1, 8, False),   # 12.5%
    (1, 5, True),    # 20%
    (1, 6, False),   # 16.7%
    (1, 3, True),    # 33%
    (0, 3, False),
    (8, 8, True),
])
def test_healthy_while_more_than_18_percent_of_checkers_say_so(healthy: int, total: int, expected: bool) -> None:
    states = [CheckerState(True)] * healthy + [CheckerState(False)] * (total - healthy)
    assert checkers_healthy(states) is expected


def test_inverted_flips_and_a_new_inverted_check_starts_unhealthy() -> None:
    assert status(spec(inverted=True), [CheckerState()] * 3, lambda _: None) is False
    assert status(spec(inverted=True), [CheckerState(False)] * 3, lambda _: None) is True


def test_disabled_is_always_healthy_even_inverted() -> None:
    assert status(spec(disabled=True), [CheckerState(False)] * 3, lambda _: None) is True
    assert status(spec(disabled=True, inverted=True), [CheckerState(True)] * 3, lambda _: None) is True


CHILDREN = {"a": True, "b": False, "c": True}


@pytest.mark.parametrize(("threshold", "expected"), [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_calculated_counts_healthy_children(threshold: int, expected: bool) -> None:
    calculated = spec(check_type=CheckType.CALCULATED, health_threshold=threshold, children=("a", "b", "c"))
    assert status(calculated, [], CHILDREN.get) is expected


def test_calculated_threshold_zero_is_healthy_with_every_child_unhealthy() -> None:
    calculated = spec(check_type=CheckType.CALCULATED, health_threshold=0, children=("b",))
    assert status(calculated, [], CHILDREN.get) is True


def test_calculated_missing_child_counts_unhealthy_and_inverted_applies() -> None:
    calculated = spec(check_type=CheckType.CALCULATED, health_threshold=1, children=("gone",))
    assert status(calculated, [], CHILDREN.get) is False
    assert status(calculated.__class__(**{**calculated.__dict__, "inverted": True}), [], CHILDREN.get) is True


def test_spec_from_the_api_shape() -> None:
    parsed = HealthCheckSpec.from_api({"Id": "x", "HealthCheckVersion": 2, "HealthCheckConfig": {
        "Type": "HTTPS_STR_MATCH", "IPAddress": "127.0.0.5", "ResourcePath": "/h", "SearchString": "ok",
        "RequestInterval": 10, "FailureThreshold": 2, "Inverted": True, "Regions": ["us-east-1", "eu-west-1", "sa-east-1"]}})
    assert parsed.check_type is CheckType.HTTPS_STR_MATCH and parsed.effective_port == 443
    assert parsed.failure_threshold == 2 and parsed.inverted and parsed.version == 2
    assert parsed.regions == ("us-east-1", "eu-west-1", "sa-east-1")


@pytest.mark.parametrize(("state", "insufficient", "last_known", "expected"), [
    ("ALARM", "Healthy", True, False),
    ("OK", "Unhealthy", False, True),
    ("INSUFFICIENT_DATA", "Healthy", False, True),
    ("INSUFFICIENT_DATA", "Unhealthy", True, False),
    ("INSUFFICIENT_DATA", "LastKnownStatus", False, False),
    ("INSUFFICIENT_DATA", "LastKnownStatus", True, True),
    (None, "Unhealthy", True, False),  # the alarm is gone: no data either
])
def test_a_cloudwatch_metric_check_follows_its_alarm(state: str | None, insufficient: str, last_known: bool,
                                                     expected: bool) -> None:
    assert alarm_status(state, insufficient, last_known) is expected
    check = spec(check_type=CheckType.CLOUDWATCH_METRIC, ip_address="", alarm_region="us-east-1", alarm_name="a")
    assert status(check, [], lambda _: None, expected) is expected
    assert status(dataclasses.replace(check, inverted=True), [], lambda _: None, expected) is not expected
