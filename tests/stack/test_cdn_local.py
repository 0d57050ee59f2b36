"""The edge built on the session's local stack, through the control plane like any client (stack.cdn)."""
from __future__ import annotations

from typing import Any

from stack import cdn, discovery
from stack.handles import ReferenceStack


def test_the_distribution_and_its_assets_are_built_through_the_endpoint(stack: ReferenceStack, aws_client: Any,
                                                                         gameday_environment: Any) -> None:
    assert stack.cdn is not None, "the builder made no distribution"
    edge = stack.cdn
    s3 = aws_client("s3", edge.bucket_region)
    for key, (content_type, body) in cdn.ASSETS.items():  # path-style on the endpoint: /<bucket>/<key>
        got = s3.get_object(Bucket=edge.bucket, Key=key)
        assert (got["Body"].read().decode(), got["ContentType"], got["CacheControl"]) == (
            body, content_type, cdn.ASSET_CACHE_CONTROL)
    cloudfront = aws_client("cloudfront", "us-east-1")
    distribution = cloudfront.get_distribution(Id=edge.distribution_id)["Distribution"]
    assert (distribution["Status"], distribution["DomainName"]) == ("Deployed", edge.domain_name)
    # Each behaviour's cache policy is readable, as the edge reads it (moto has none: the control plane answers).
    config = distribution["DistributionConfig"]
    for behaviour in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]["Items"]]:
        policy = cloudfront.get_cache_policy(Id=behaviour["CachePolicyId"])["CachePolicy"]["CachePolicyConfig"]
        assert policy["MaxTTL"] == 31_536_000
    assert discovery.discover(gameday_environment, lambda service, region: aws_client(service, region)).cdn == edge
