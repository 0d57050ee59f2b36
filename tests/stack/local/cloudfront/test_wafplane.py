"""WAFv2 and Shield through a real control plane: AWS's refusals, and the edge's WAF reading, enforcing and reporting.

One in-process control plane (no data planes) for the module; the edge's ``WafPlane`` is attached
to it as the CloudFront part would be, so GetSampledRequests and every WAFv2 change go through it.
"""
from __future__ import annotations

import datetime
import json
import uuid
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from environments.loader import load
from environments.model import LocalEnvironment
from stack.local.cloudfront.wafplane import WafPlane
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.messages import ApiHandler, Change
from stack.local.part import LOCAL_CREDENTIALS
from tests.conftest import worker_index

VISIBILITY = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}


class _Edge:
    """The part's side of the WAF, as the CloudFront part wires it."""

    name = "cloudfront"

    def __init__(self, plane: WafPlane) -> None:
        self.plane = plane

    def answers(self) -> dict[tuple[str, str], ApiHandler]:
        return self.plane.answers()

    def on_change(self, change: Change) -> None:
        self.plane.on_change(change)


@pytest.fixture(scope="module")
def plane() -> Iterator[tuple[Any, WafPlane]]:
    control = ControlPlane()
    server = AwsEndpoint(control, f"127.0.{worker_index() + 20}.4", 0)
    server.start()
    session = boto3.session.Session(region_name="us-east-1", **LOCAL_CREDENTIALS)

    def client(service: str, region: str = "us-east-1", validate: bool = True) -> Any:
        return session.client(service, region_name=region, endpoint_url=server.url,
                              config=Config(parameter_validation=validate, retries={"max_attempts": 1}))
    environment = load("local")
    assert isinstance(environment, LocalEnvironment)
    waf = WafPlane(client, environment, control.log)
    control.attach(_Edge(waf))  # type: ignore[arg-type]
    try:
        yield client, waf
    finally:
        control.detach_all()
        server.stop()


def _ip_set(client: Any, addresses: list[str], region: str = "us-east-1") -> Any:
    return client("wafv2", region).create_ip_set(Name=f"s-{uuid.uuid4().hex[:8]}", Scope="CLOUDFRONT",
                                                 IPAddressVersion="IPV4", Addresses=addresses)["Summary"]


def _web_acl(client: Any, rules: list[dict[str, Any]], validate: bool = True) -> Any:
    return client("wafv2", validate=validate).create_web_acl(
        Name=f"acl-{uuid.uuid4().hex[:8]}", Scope="CLOUDFRONT", DefaultAction={"Allow": {}}, Rules=rules,
        VisibilityConfig={**VISIBILITY, "MetricName": "securecart"})["Summary"]


def _rate_rule(limit: int, window: int = 60, name: str = "flood") -> dict[str, Any]:
    return {"Name": name, "Priority": 1, "Action": {"Block": {}}, "VisibilityConfig": {**VISIBILITY, "MetricName": name},
            "Statement": {"RateBasedStatement": {"Limit": limit, "EvaluationWindowSec": window, "AggregateKeyType": "IP"}}}


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("address", ["127.200.5.0/33", "127.200.5.7/24", "127.200.5.7", "0.0.0.0/0", "::1/128"])
def test_an_ip_set_takes_only_cidr_blocks_of_its_version(plane: tuple[Any, WafPlane], address: str) -> None:
    client, _ = plane
    error = _error(client("wafv2").create_ip_set, Name="bad", Scope="CLOUDFRONT", IPAddressVersion="IPV4",
                   Addresses=["127.200.1.0/24", address])
    assert error["Code"] == "WAFInvalidParameterException"
    assert error["Message"] == (f"Error reason: The parameter contains formatting that is not valid., field: IP_ADDRESS, "
                                f"parameter: {address}")
    assert not [s for s in client("wafv2").list_ip_sets(Scope="CLOUDFRONT")["IPSets"] if s["Name"] == "bad"]


def test_update_ip_set_is_checked_too_and_cloudfront_scope_lives_in_us_east_1(plane: tuple[Any, WafPlane]) -> None:
    client, _ = plane
    summary = _ip_set(client, ["127.200.5.0/24"])
    error = _error(client("wafv2").update_ip_set, Name=summary["Name"], Scope="CLOUDFRONT", Id=summary["Id"],
                   Addresses=["127.200.5.300/32"], LockToken=summary["LockToken"])
    assert (error["Code"], "IP_ADDRESS" in error["Message"]) == ("WAFInvalidParameterException", True)
    error = _error(client("wafv2", "eu-central-1").list_web_acls, Scope="CLOUDFRONT")
    assert error["Code"] == "WAFInvalidParameterException" and "SCOPE_VALUE" in error["Message"]


@pytest.mark.parametrize("rule,fragment", [
    (_rate_rule(9), "field: RATE_BASED_STATEMENT, parameter: 9"),
    (_rate_rule(100, window=30), "field: RATE_BASED_STATEMENT, parameter: 30"),
    ({**_rate_rule(100), "Statement": {"NotStatement": {"Statement": _rate_rule(100)["Statement"]}}},
     "a RateBasedStatement can only be a rule's top-level statement"),
])
def test_a_web_acl_is_refused_as_aws_refuses_it(plane: tuple[Any, WafPlane], rule: dict[str, Any], fragment: str) -> None:
    client, _ = plane
    # boto3 itself refuses a Limit under 10 before sending; the endpoint must refuse it from any client too.
    error = _error(_web_acl, client=client, rules=[rule], validate=False)
    assert error["Code"] == "WAFInvalidParameterException" and fragment in error["Message"]


def test_a_rule_on_a_missing_ip_set_is_nonexistent(plane: tuple[Any, WafPlane]) -> None:
    client, _ = plane
    missing = "arn:aws:wafv2:us-east-1:123456789012:global/ipset/none/0c5a3b1e-0000-0000-0000-000000000000"
    rule = {"Name": "deny", "Priority": 0, "Action": {"Block": {}}, "VisibilityConfig": VISIBILITY,
            "Statement": {"IPSetReferenceStatement": {"ARN": missing}}}
    assert _error(_web_acl, client=client, rules=[rule])["Code"] == "WAFNonexistentItemException"


def test_the_edge_enforces_reports_and_rereads_a_web_acl(plane: tuple[Any, WafPlane]) -> None:
    client, waf = plane
    blocked = _ip_set(client, ["127.200.5.0/24"])
    rule = {"Name": "botnet", "Priority": 0, "Action": {"Block": {}}, "VisibilityConfig": {**VISIBILITY, "MetricName": "botnet"},
            "Statement": {"IPSetReferenceStatement": {"ARN": blocked["ARN"]}}}
    geo = {"Name": "sg", "Priority": 2, "Action": {"Count": {}}, "VisibilityConfig": {**VISIBILITY, "MetricName": "sg"},
           "Statement": {"GeoMatchStatement": {"CountryCodes": ["SG"]}}}
    acl = _web_acl(client, [rule, geo])
    assert waf.evaluate(acl["ARN"], "127.200.5.10", "GET", "/checkout").status == 403
    assert not waf.evaluate(acl["ARN"], "127.200.1.10", "GET", "/checkout").blocked
    assert waf.evaluate(acl["ARN"], "127.200.4.10", "GET", "/checkout").counted == ("sg",)  # Singapore's vantage point
    # The IP set changes: the edge re-reads it at the next request.
    current = client("wafv2").get_ip_set(Name=blocked["Name"], Scope="CLOUDFRONT", Id=blocked["Id"])
    client("wafv2").update_ip_set(Name=blocked["Name"], Scope="CLOUDFRONT", Id=blocked["Id"], Addresses=["127.200.1.0/24"],
                                  LockToken=current["LockToken"])
    assert waf.evaluate(acl["ARN"], "127.200.1.10", "GET", "/checkout").blocked
    assert not waf.evaluate(acl["ARN"], "127.200.5.10", "GET", "/checkout").blocked
    now = datetime.datetime.now(datetime.timezone.utc)
    window = {"StartTime": now - datetime.timedelta(minutes=5), "EndTime": now + datetime.timedelta(minutes=1)}
    sampled = client("wafv2").get_sampled_requests(WebAclArn=acl["ARN"], RuleMetricName="botnet", Scope="CLOUDFRONT",
                                                   TimeWindow=window, MaxItems=10)
    assert [s["Request"]["ClientIP"] for s in sampled["SampledRequests"]] == ["127.200.1.10"]  # the re-read ACL's sample
    assert waf.publish() > 0
    statistics = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/WAFV2", MetricName="BlockedRequests", Statistics=["Sum"], Period=60,
        Dimensions=[{"Name": "WebACL", "Value": "securecart"}, {"Name": "Rule", "Value": "ALL"}],
        StartTime=window["StartTime"], EndTime=window["EndTime"])
    assert sum(point["Sum"] for point in statistics["Datapoints"]) == 2


def test_an_acl_the_edge_cannot_read_fails_closed_and_says_why(plane: tuple[Any, WafPlane]) -> None:
    _, waf = plane
    missing = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/none/0c5a3b1e-0000-0000-0000-000000000000"
    assert waf.evaluate(missing, "127.200.1.10", "GET", "/").status == 503
    assert "no CLOUDFRONT web ACL with this ARN exists" in waf.problems[missing]


def test_shield_protects_only_a_distribution_that_exists_and_reports_no_attack(plane: tuple[Any, WafPlane]) -> None:
    client, _ = plane
    shield = client("shield")
    error = _error(shield.create_protection, Name="edge", ResourceArn="arn:aws:cloudfront::123456789012:distribution/E0NONE")
    assert error["Code"] == "InvalidResourceException"
    assert shield.list_attacks()["AttackSummaries"] == []


def test_without_an_edge_get_sampled_requests_reports_nothing_seen() -> None:
    from stack.local.controlplane import wafv2
    from stack.local.messages import ApiRequest

    window = {"StartTime": 1.0, "EndTime": 2.0}
    answer = wafv2.no_samples(ApiRequest("wafv2", "GetSampledRequests", "us-east-1", {"TimeWindow": window}), None)
    assert (answer.status, json.loads(answer.body)) == (200, {"SampledRequests": [], "PopulationSize": 0, "TimeWindow": window})
