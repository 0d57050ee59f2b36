"""Global Accelerator's routing of one connection: nearest group, dials, weights, failover, fail-open."""
from __future__ import annotations

import random
from collections import Counter

from stack.local.accelerator.health import HEALTHY, UNHEALTHY, HealthChecks
from stack.local.accelerator.routing import Endpoint, Group, HealthSettings, Listener, choose
from base.timescale import TimeScale

CHECKS = HealthSettings("TCP", 8080, "/", 10, 3)
RTT = {"us-east-1": 4, "us-west-2": 78, "eu-central-1": 89, "ap-southeast-1": 217}  # virginia


def group(region: str, dial: float = 100, *weights: int) -> Group:
    endpoints = tuple(Endpoint(f"i-{region}-{n}", f"127.0.0.{n + 1}", w) for n, w in enumerate(weights or (128,)))
    return Group(f"arn:{region}", region, dial, endpoints, CHECKS)


def listener(*groups: Group, affinity: str = "NONE") -> Listener:
    return Listener("arn:l", "arn:a", ("127.240.1.1", "127.240.1.2"), (80,), affinity, groups)


def everyone(_arn: str, _endpoint: str) -> bool:
    return True


def regions(found: Listener, healthy=everyone, n: int = 2000, rtt=RTT) -> Counter[str]:
    rng = random.Random(7)
    return Counter(choose(found, "127.200.1.9", rtt, healthy, rng).group.region for _ in range(n))  # type: ignore[union-attr]


def test_the_nearest_group_takes_everything_at_full_dial() -> None:
    assert regions(listener(group("us-west-2"), group("us-east-1"))) == {"us-east-1": 2000}


def test_a_dial_keeps_its_share_and_sends_the_rest_to_the_next_nearest() -> None:
    found = regions(listener(group("us-east-1", 25), group("us-west-2"), group("eu-central-1")))
    assert 400 <= found["us-east-1"] <= 600 and found["us-east-1"] + found["us-west-2"] == 2000


def test_a_group_with_no_healthy_endpoint_fails_over_ignoring_dials() -> None:
    def east_down(arn: str, _endpoint: str) -> bool:
        return arn != "arn:us-east-1"

    found = regions(listener(group("us-east-1"), group("us-west-2", 0), group("eu-central-1")), east_down)
    assert found == {"us-west-2": 2000}  # nearest other group, although its dial is 0


def test_no_healthy_endpoint_in_three_more_groups_fails_open_to_the_nearest_group() -> None:
    def only(region: str):  # type: ignore[no-untyped-def]
        return lambda arn, _endpoint: arn == f"arn:{region}"

    # The original group and three more are tried; eu-west-1 (no RTT known: farthest) is a fifth.
    groups = (group("eu-west-1"), group("us-east-1"), group("us-west-2"), group("eu-central-1"), group("ap-southeast-1"))
    choice = choose(listener(*groups), "127.200.1.9", RTT, only("ap-southeast-1"), random.Random(1))
    assert choice is not None and (choice.group.region, choice.how) == ("ap-southeast-1", "failover")
    choice = choose(listener(*groups), "127.200.1.9", RTT, only("eu-west-1"), random.Random(1))
    assert choice is not None and (choice.group.region, choice.how) == ("us-east-1", "fail-open")


def test_weights_share_a_group_and_weight_zero_takes_nothing() -> None:
    rng = random.Random(3)
    found = Counter(choose(listener(group("us-east-1", 100, 1, 3, 0)), "127.200.1.9", RTT, everyone, rng)
                    .endpoint.endpoint_id for _ in range(4000))  # type: ignore[union-attr]
    assert found["i-us-east-1-2"] == 0 and 2.5 <= found["i-us-east-1-1"] / found["i-us-east-1-0"] <= 3.5


def test_source_ip_affinity_keeps_a_client_on_one_endpoint() -> None:
    found = listener(group("us-east-1", 100, 1, 1, 1, 1), affinity="SOURCE_IP")
    picks = {choose(found, "127.200.1.9", RTT, everyone).endpoint.endpoint_id for _ in range(50)}  # type: ignore[union-attr]
    assert len(picks) == 1


def test_an_unknown_client_goes_to_the_first_group() -> None:
    assert regions(listener(group("us-west-2"), group("us-east-1")), rtt={}, n=10) == {"us-west-2": 10}


def test_threshold_count_results_in_a_row_flip_the_state() -> None:
    checks = HealthChecks(TimeScale(0.1), lambda region: "127.0.0.1")
    east = group("us-east-1")
    endpoint = east.endpoints[0]
    assert checks.health_of(east.arn, endpoint.endpoint_id) is None and checks.routable(east.arn, endpoint.endpoint_id)
    checks.record(east, endpoint, True, "ok")
    assert checks.health_of(east.arn, endpoint.endpoint_id) == (HEALTHY, "ok")
    for _ in range(CHECKS.threshold - 1):
        checks.record(east, endpoint, False, "refused")
    checks.record(east, endpoint, True, "ok")  # a pass in between starts the count again
    for _ in range(CHECKS.threshold):
        assert checks.routable(east.arn, endpoint.endpoint_id)
        checks.record(east, endpoint, False, "refused")
    assert checks.health_of(east.arn, endpoint.endpoint_id) == (UNHEALTHY, "refused")
    assert not checks.routable(east.arn, endpoint.endpoint_id)


def test_each_instance_has_its_own_accelerator_range() -> None:
    from environments import loader
    from stack.local.instance import Instance

    env = loader.load("local")
    assert [Instance(k, env).resolved().accelerator_cidr for k in (0, 3)] == ["127.240.0.0/16", "127.243.0.0/16"]  # type: ignore[arg-type]
