"""Parsing a distribution's configuration and choosing behaviours, origins and the nearest edge."""
from __future__ import annotations

import pytest

from environments.loader import load
from environments.model import LocalEnvironment
from stack.local.cloudfront.distribution import CACHING_DISABLED, MANAGED_POLICIES, DistributionError, parse
from stack.local.cloudfront.edges import nearest_by_network

CONFIG = {
    "Enabled": True,
    "Aliases": {"Quantity": 1, "Items": ["Shop.Example"]},
    "Origins": {"Quantity": 3, "Items": [
        {"Id": "assets", "DomainName": "assets.s3.us-east-1.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}},
        {"Id": "east", "DomainName": "us-east-1.checkout.securecart.example", "ConnectionAttempts": 2, "ConnectionTimeout": 4,
         "CustomOriginConfig": {"HTTPPort": 8080, "OriginProtocolPolicy": "http-only", "OriginReadTimeout": 5}},
        {"Id": "west", "DomainName": "us-west-2.checkout.securecart.example",
         "CustomOriginConfig": {"HTTPPort": 8080, "OriginProtocolPolicy": "http-only"}},
    ]},
    "OriginGroups": {"Quantity": 1, "Items": [{
        "Id": "api", "FailoverCriteria": {"StatusCodes": {"Quantity": 4, "Items": [500, 502, 503, 504]}},
        "Members": {"Quantity": 2, "Items": [{"OriginId": "east"}, {"OriginId": "west"}]}}]},
    "CacheBehaviors": {"Quantity": 1, "Items": [{"PathPattern": "/api/*", "TargetOriginId": "api", "CachePolicyId": CACHING_DISABLED,
                                                  "AllowedMethods": {"Quantity": 7, "Items": ["GET", "HEAD", "OPTIONS", "PUT", "POST",
                                                                                               "PATCH", "DELETE"]}}]},
    "DefaultCacheBehavior": {"TargetOriginId": "assets", "MinTTL": 0, "DefaultTTL": 3600, "MaxTTL": 86400,
                             "ForwardedValues": {"QueryString": True, "QueryStringCacheKeys": {"Quantity": 1, "Items": ["v"]}}},
}


def test_a_distribution_is_parsed_with_its_groups_behaviours_and_policies() -> None:
    distribution = parse("D1", "d1.cloudfront.net.", CONFIG, MANAGED_POLICIES.get)
    assert distribution.aliases == ("shop.example",) and distribution.domain_name == "d1.cloudfront.net"
    api = distribution.behavior_for("/api/orders")
    assert api.target == "api" and api.policy == MANAGED_POLICIES[CACHING_DISABLED] and "POST" in api.allowed_methods
    assets = distribution.behavior_for("/img/logo.png")
    assert assets.path_pattern == "*" and assets.policy.default_ttl_s == 3600
    assert assets.policy.key.query_behavior == "whitelist" and assets.policy.key.query_names == {"v"}
    origins, statuses = distribution.origins_for("api")
    assert [o.id for o in origins] == ["east", "west"] and statuses == {500, 502, 503, 504}
    assert (origins[0].connection_attempts, origins[0].connection_timeout_s, origins[0].read_timeout_s) == (2, 4, 5)
    assert (origins[1].connection_attempts, origins[1].connection_timeout_s, origins[1].read_timeout_s) == (3, 10, 30)
    assert distribution.origins["assets"].s3 and not origins[0].s3


@pytest.mark.parametrize(("change", "message"), [
    ({"DefaultCacheBehavior": {"TargetOriginId": "nowhere"}}, "TargetOriginId 'nowhere' of path pattern '\\*' is neither"),
    ({"CacheBehaviors": {"Items": [{"PathPattern": "/x", "TargetOriginId": "assets", "CachePolicyId": "p-1"}]}},
     "CacheBehaviors\\[0\\]: CachePolicyId 'p-1' names no cache policy"),
])
def test_a_configuration_the_edge_cannot_serve_is_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(DistributionError, match=message):
        parse("D1", "d1.cloudfront.net", {**CONFIG, **change}, MANAGED_POLICIES.get)


def test_each_vantage_point_and_region_gets_its_nearest_edge() -> None:
    environment = load("local")
    assert isinstance(environment, LocalEnvironment)
    nearest = {network: edge.code for network, edge in nearest_by_network(environment).items()}
    assert nearest == {"virginia": "IAD", "oregon": "PDX", "frankfurt": "FRA", "singapore": "SIN",
                       "us-east-1": "IAD", "us-west-2": "PDX", "eu-central-1": "FRA", "ap-southeast-1": "SIN"}


def test_the_changed_distribution_and_invalidated_paths_are_read_from_the_call() -> None:
    from stack.local.cloudfront import sync

    answer = (b'<?xml version="1.0"?><Distribution xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
              b"<Id>E1ABC</Id><ARN>arn</ARN></Distribution>")
    assert sync.distribution_id_of("/2020-05-31/distribution", answer) == "E1ABC"
    assert sync.distribution_id_of("/2020-05-31/distribution/E2XYZ/config", b"") == "E2XYZ"
    assert sync.distribution_id_of("/2020-05-31/cache-policy", b"<CachePolicy><Id>p</Id></CachePolicy>") == ""
    batch = (b'<Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I1</Id><InvalidationBatch>'
             b"<Paths><Quantity>2</Quantity><Items><Path>/img/*</Path><Path>/a.js</Path></Items></Paths></InvalidationBatch>"
             b"</Invalidation>")
    assert sync.invalidated("/2020-05-31/distribution/E1ABC/invalidation", batch, lambda _: []) == ("E1ABC", ["/img/*", "/a.js"])
    assert sync.invalidated("/2020-05-31/distribution/E1ABC/invalidation", b"", lambda d: [f"/{d}"]) == ("E1ABC", ["/E1ABC"])
