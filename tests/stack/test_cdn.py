"""The reference stack's edge (stack.cdn) on moto: the bucket with its assets, the distribution and its origin group."""
from __future__ import annotations

import json
from typing import Any

from environments import loader
from stack import cdn

TAGS = [{"Key": "gameday:stack", "Value": "securecart"}, {"Key": "gameday:run", "Value": "run-1"}]


def _build(client: Any, create: bool = True) -> Any:
    return cdn.build(client, cdn.spec_of(loader.load("local"), "securecart"), TAGS, "run-1", create, 0.01, 20)


def test_the_edge_is_built_once_and_found_again(client: Any) -> None:
    assert _build(client, create=False) is None, "attach mode finds nothing before a build, and creates nothing"
    built = _build(client)
    assert built is not None and built.domain_name.endswith(".cloudfront.net")
    assert _build(client) == built, "a second build reuses the distribution"
    assert _build(client, create=False) == built
    cloudfront = client("cloudfront", "us-east-1")
    assert cloudfront.list_distributions()["DistributionList"]["Quantity"] == 1
    assert cloudfront.get_distribution(Id=built.distribution_id)["Distribution"]["Status"] == "Deployed"
    tags = cloudfront.list_tags_for_resource(Resource=built.arn)["Tags"]["Items"]
    assert sorted(tags, key=lambda t: t["Key"]) == sorted(TAGS, key=lambda t: t["Key"])


def test_the_api_fails_over_from_the_first_active_region_to_the_second(client: Any) -> None:
    built = _build(client)
    config = client("cloudfront", "us-east-1").get_distribution_config(Id=built.distribution_id)["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]["Items"]}
    [group] = config["OriginGroups"]["Items"]
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["checkout-us-east-1", "checkout-us-west-2"]
    assert sorted(group["FailoverCriteria"]["StatusCodes"]["Items"]) == [500, 502, 503, 504]
    primary = origins["checkout-us-east-1"]
    assert primary["DomainName"] == "us-east-1.checkout.securecart.example"
    assert (primary["ConnectionAttempts"], primary["ConnectionTimeout"]) == (cdn.CONNECTION_ATTEMPTS, cdn.CONNECTION_TIMEOUT_S)
    assert primary["CustomOriginConfig"]["HTTPPort"] == 8080
    assert built.api_origins == ("us-east-1.checkout.securecart.example", "us-west-2.checkout.securecart.example")
    [behaviour] = config["CacheBehaviors"]["Items"]
    assert (behaviour["PathPattern"], behaviour["TargetOriginId"]) == ("/products*", "checkout")
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "assets"
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == cdn.CACHING_OPTIMIZED


def test_the_assets_are_in_the_bucket_and_only_the_distribution_reads_them(client: Any) -> None:
    built = _build(client)
    s3 = client("s3", built.bucket_region)
    assert built.bucket == "securecart-assets-123456789012"
    for key, (content_type, body) in cdn.ASSETS.items():
        got = s3.get_object(Bucket=built.bucket, Key=key)
        assert (got["Body"].read().decode(), got["ContentType"], got["CacheControl"]) == (
            body, content_type, cdn.ASSET_CACHE_CONTROL)
    assert s3.get_bucket_tagging(Bucket=built.bucket)["TagSet"] == TAGS
    [statement] = json.loads(s3.get_bucket_policy(Bucket=built.bucket)["Policy"])["Statement"]
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": built.arn}}
