"""The WAF engine on a fake clock: rule order and actions, rate-based rules on WAF's 10 s checks, matchers."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from stack.local.cloudfront import wafrules
from stack.local.cloudfront.wafacl import WebAcl
from stack.local.cloudfront.wafrules import WebRequest

SCALE = 0.1  # the default time scale: 10 AWS s are 1 wall s
IP_SET_ARN = "arn:aws:wafv2:us-east-1:123456789012:global/ipset/blocked/1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _rule(name: str, priority: int, statement: dict[str, Any], action: str = "Block") -> dict[str, Any]:
    return {"Name": name, "Priority": priority, "Statement": statement, "Action": {action: {}},
            "VisibilityConfig": {"MetricName": name, "SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}}


def _acl(*rules: dict[str, Any], default: str = "Allow") -> dict[str, Any]:
    return {"Name": "checkout", "ARN": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/checkout/1",
            "DefaultAction": {default: {}}, "Rules": list(rules),
            "VisibilityConfig": {"MetricName": "checkout", "SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}}


def _web_acl(acl: dict[str, Any], clock: Clock, addresses: tuple[str, ...] = ("127.200.5.0/24",)) -> WebAcl:
    def ip_sets(arn: str) -> list[wafrules.Network]:
        assert arn == IP_SET_ARN
        return wafrules.ip_networks(list(addresses))
    return WebAcl(acl, ip_sets, clock, lambda aws_s: aws_s * SCALE, clock)


def _request(ip: str = "127.200.1.10", country: str = "US", path: str = "/checkout", **headers: str) -> WebRequest:
    return WebRequest(ip, country, "GET", path, "", {k.replace("_", "-"): v for k, v in headers.items()})


def _rate(limit: int, window: int = 60) -> dict[str, Any]:
    return {"RateBasedStatement": {"Limit": limit, "EvaluationWindowSec": window, "AggregateKeyType": "IP"}}


def test_rate_rule_blocks_an_ip_over_the_limit_at_the_next_check_only() -> None:
    clock = Clock()
    acl = _web_acl(_acl(_rule("flood", 0, _rate(10))), clock)
    bot, user = "127.200.5.10", "127.200.1.10"
    # 30 bot requests in the first 0.9 wall s (9 AWS s): over the limit, but WAF has not checked yet.
    for i in range(30):
        clock.now = 1000.0 + i * 0.03
        assert not acl.evaluate(_request(bot)).blocked
    assert not acl.evaluate(_request(user)).blocked
    clock.now = 1001.0  # the first check, 10 AWS s after the start
    verdict = acl.evaluate(_request(bot))
    assert (verdict.blocked, verdict.status, verdict.rule) == (True, 403, "flood")
    assert not acl.evaluate(_request(user)).blocked
    assert acl.rates["flood"].listed() == frozenset({bot})
    # The bot stops; the window (6 wall s) passes; the check after it takes the bot off the list.
    clock.now = 1007.5
    assert not acl.evaluate(_request(bot)).blocked


def test_rate_rule_counts_only_what_the_scope_down_statement_matches() -> None:
    clock = Clock()
    scoped = _rate(10)
    scoped["RateBasedStatement"]["ScopeDownStatement"] = {"ByteMatchStatement": {
        "FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "STARTS_WITH", "SearchString": b"/checkout",
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    acl = _web_acl(_acl(_rule("flood", 0, scoped)), clock)
    for i in range(30):
        clock.now = 1000.0 + i * 0.03
        acl.evaluate(_request("127.200.5.10", path="/assets/logo.png"))
    clock.now = 1001.0
    assert not acl.evaluate(_request("127.200.5.10", path="/checkout")).blocked


@pytest.mark.parametrize("statement", [
    {"RateBasedStatement": {"Limit": 9, "EvaluationWindowSec": 60}},
    {"RateBasedStatement": {"Limit": 100, "EvaluationWindowSec": 30}},
    {"RateBasedStatement": {"Limit": 100, "AggregateKeyType": "FORWARDED_IP"}},
    {"SqliMatchStatement": {}},
])
def test_what_is_not_emulated_is_refused_by_name(statement: dict[str, Any]) -> None:
    with pytest.raises(wafrules.Unsupported) as raised:
        _web_acl(_acl(_rule("r", 0, statement)), Clock())
    assert any(word in str(raised.value) for word in ("Limit", "AggregateKeyType", "SqliMatchStatement"))


def test_rules_run_in_priority_order_count_goes_on_and_the_default_applies() -> None:
    clock = Clock()
    acl = _web_acl(_acl(
        _rule("blocked-ips", 2, {"IPSetReferenceStatement": {"ARN": IP_SET_ARN}}),
        _rule("count-everything", 1, {"GeoMatchStatement": {"CountryCodes": ["US", "RU"]}}, action="Count"),
        _rule("allow-health", 0, {"ByteMatchStatement": {
            "FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "EXACTLY", "SearchString": base64.b64encode(b"/health").decode(),
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}, action="Allow"),
    ), clock)
    health = acl.evaluate(_request("127.200.5.10", "RU", "/health"))
    assert (health.blocked, health.rule, health.counted) == (False, "allow-health", ())
    bot = acl.evaluate(_request("127.200.5.10", "RU"))
    assert (bot.blocked, bot.rule, bot.counted) == (True, "blocked-ips", ("count-everything",))
    user = acl.evaluate(_request("127.200.3.10", "DE"))
    assert (user.blocked, user.rule, user.counted) == (False, "Default_Action", ())
    tallies = acl.drain()
    assert tallies[("ALL", "BlockedRequests")] == 1 and tallies[("ALL", "AllowedRequests")] == 2
    assert tallies[("blocked-ips", "BlockedRequests")] == 1 and tallies[("count-everything", "CountedRequests")] == 1
    assert tallies[("Default_Action", "AllowedRequests")] == 1
    assert not acl.drain()  # drained once
    sampled = acl.samples.answer("blocked-ips", 0, 2000, 100)
    assert sampled["PopulationSize"] == 1
    assert sampled["SampledRequests"][0]["Request"]["ClientIP"] == "127.200.5.10"
    assert (sampled["SampledRequests"][0]["Action"], sampled["SampledRequests"][0]["ResponseCodeSent"]) == ("BLOCK", 403)
    assert acl.samples.answer("checkout", 0, 2000, 2)["PopulationSize"] == 3


def test_default_block_and_custom_response_code() -> None:
    rule = _rule("teapot", 0, {"GeoMatchStatement": {"CountryCodes": ["SG"]}})
    rule["Action"] = {"Block": {"CustomResponse": {"ResponseCode": 418}}}
    acl = _web_acl(_acl(rule, default="Block"), Clock())
    assert acl.evaluate(_request(country="SG")).status == 418
    assert (acl.evaluate(_request(country="US")).status, acl.evaluate(_request(country="US")).rule) == (403, "Default_Action")


@pytest.mark.parametrize("constraint,search,transforms,value,matched", [
    ("CONTAINS", b"bot", ["LOWERCASE"], "Mozilla/5.0 BadBot/1.0", True),
    ("CONTAINS", b"bot", ["NONE"], "Mozilla/5.0 BadBot/1.0", False),
    ("CONTAINS_WORD", b"curl", ["LOWERCASE"], "curl/8.5", True),
    ("CONTAINS_WORD", b"curl", ["LOWERCASE"], "xcurly", False),
    ("STARTS_WITH", b"python", ["TRIM", "LOWERCASE"], "  Python-requests", True),
    ("ENDS_WITH", b"<script>", ["URL_DECODE"], "x%3Cscript%3E", True),
    ("EXACTLY", b"a b", ["COMPRESS_WHITE_SPACE"], "a \t b", True),
])
def test_byte_match_transforms_then_compares(constraint: str, search: bytes, transforms: list[str], value: str,
                                             matched: bool) -> None:
    match = wafrules.byte_match({"FieldToMatch": {"SingleHeader": {"Name": "User-Agent"}}, "PositionalConstraint": constraint,
                                 "SearchString": search,
                                 "TextTransformations": [{"Priority": i, "Type": t} for i, t in enumerate(transforms)]})
    assert match(WebRequest("127.0.0.1", "", "GET", "/", "", {"user-agent": value})) is matched


def test_byte_match_reads_a_single_query_argument() -> None:
    match = wafrules.byte_match({"FieldToMatch": {"SingleQueryArgument": {"Name": "coupon"}}, "PositionalConstraint": "EXACTLY",
                                 "SearchString": b"FREE", "TextTransformations": [{"Priority": 0, "Type": "UPPERCASE"}]})
    assert match(WebRequest("127.0.0.1", "", "GET", "/cart", "item=1&Coupon=free", {}))
    assert not match(WebRequest("127.0.0.1", "", "GET", "/cart", "item=free", {}))


def _body_rule(oversize: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {} if oversize is None else {"OversizeHandling": oversize}
    return _rule("sqli", 0, {"ByteMatchStatement": {"FieldToMatch": {"Body": body}, "PositionalConstraint": "CONTAINS",
                                                    "SearchString": b"drop table",
                                                    "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}]}})


def _post(acl: WebAcl, body: bytes) -> str:
    """What the web ACL decides for a POST with ``body``, cut to the ACL's limit as the edge's WAF plane cuts it."""
    inspected = body[:acl.body_limit]
    return acl.evaluate(WebRequest("127.200.1.10", "US", "POST", "/checkout", "", {}, inspected,
                                   body_oversize=len(body) > len(inspected))).action


def test_a_body_rule_inspects_the_first_16_kb_and_oversize_handling_decides_longer_bodies() -> None:
    clock = Clock()
    default = _web_acl(_acl(_body_rule()), clock)
    assert default.body_limit == 16 * 1024
    assert _post(default, b'{"note": "DROP TABLE orders"}') == "BLOCK"
    assert _post(default, b'{"note": "gift wrap"}') == "ALLOW"
    late = b"x" * (16 * 1024) + b"drop table"  # past the limit: CONTINUE inspects only what is within it
    assert _post(default, late) == "ALLOW"
    assert _post(_web_acl(_acl(_body_rule("MATCH")), clock), late) == "BLOCK"
    assert _post(_web_acl(_acl(_body_rule("NO_MATCH")), clock), b"drop table" + b"x" * (16 * 1024)) == "ALLOW"
    raised = _web_acl(_acl(_body_rule()) | {"AssociationConfig": {"RequestBody": {"CLOUDFRONT": {
        "DefaultSizeInspectionLimit": "KB_32"}}}}, clock)
    assert raised.body_limit == 32 * 1024 and _post(raised, late) == "BLOCK"


def test_an_unknown_body_limit_or_oversize_handling_is_refused_by_name() -> None:
    with pytest.raises(wafrules.Unsupported, match="OversizeHandling 'SOMETIMES'; allowed: CONTINUE, MATCH, NO_MATCH"):
        _web_acl(_acl(_body_rule("SOMETIMES")), Clock())
    with pytest.raises(wafrules.Unsupported, match="DefaultSizeInspectionLimit 'KB_8'; allowed: KB_16, KB_32"):
        _web_acl(_acl(_body_rule()) | {"AssociationConfig": {"RequestBody": {"CLOUDFRONT": {
            "DefaultSizeInspectionLimit": "KB_8"}}}}, Clock())
