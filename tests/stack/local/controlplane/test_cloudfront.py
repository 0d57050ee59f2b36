"""CloudFront and S3 through the control plane: what AWS answers that moto alone does not."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stack.local.endpoint import AwsEndpoint


def _config(bucket: str, reference: str, **extra: Any) -> dict[str, Any]:
    origins = [{"Id": name, "DomainName": f"{name}.example", "CustomOriginConfig": {
        "HTTPPort": 8080, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}} for name in ("east", "west")]
    origins.append({"Id": "assets", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""}})
    return {"CallerReference": reference, "Comment": "test", "Enabled": True,
            "Origins": {"Quantity": len(origins), "Items": origins},
            "OriginGroups": {"Quantity": 1, "Items": [{
                "Id": "api", "FailoverCriteria": {"StatusCodes": {"Quantity": 2, "Items": [502, 503]}},
                "Members": {"Quantity": 2, "Items": [{"OriginId": "east"}, {"OriginId": "west"}]}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "assets", "ViewerProtocolPolicy": "allow-all",
                                     "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}, **extra}


@pytest.fixture
def cloudfront(edge_client: Any) -> Any:
    return edge_client("cloudfront")


def test_operations_that_share_a_path_are_told_apart_by_their_query(edge: AwsEndpoint, edge_client: Any) -> None:
    # Before: POST /distribution?WithTags was read as CreateDistribution (MalformedInput: DistributionConfigWithTags
    # is not valid), and PUT /{Bucket}?tagging as CreateBucket.
    bucket = f"assets-{uuid.uuid4().hex[:8]}"
    s3 = edge_client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "k", "Value": "v"}]
    cloudfront = edge_client("cloudfront")
    created = cloudfront.create_distribution_with_tags(DistributionConfigWithTags={
        "DistributionConfig": _config(bucket, uuid.uuid4().hex), "Tags": {"Items": [{"Key": "k", "Value": "v"}]}})
    arn = created["Distribution"]["ARN"]
    assert cloudfront.list_tags_for_resource(Resource=arn)["Tags"]["Items"] == [{"Key": "k", "Value": "v"}]


def _error(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def raw_cloudfront(edge_client: Any, edge: AwsEndpoint) -> Any:
    """A client that sends what botocore would refuse to (as other SDKs or hand-written XML can)."""
    import boto3

    from stack.local.part import LOCAL_CREDENTIALS

    return boto3.session.Session(**LOCAL_CREDENTIALS).client(
        "cloudfront", region_name="us-east-1", endpoint_url=edge.url, config=Config(parameter_validation=False))


def test_an_origin_group_has_exactly_two_members(raw_cloudfront: Any) -> None:
    config = _config("b1", uuid.uuid4().hex)
    config["OriginGroups"]["Items"][0]["Members"] = {"Quantity": 1, "Items": [{"OriginId": "east"}]}
    assert _error(raw_cloudfront.create_distribution, DistributionConfig=config) == ("MalformedXML", 400)
    config["OriginGroups"]["Items"][0]["Members"] = {"Quantity": 2, "Items": [{"OriginId": "east"}, {"OriginId": "nowhere"}]}
    assert _error(raw_cloudfront.create_distribution, DistributionConfig=config) == ("NoSuchOrigin", 404)


@pytest.mark.parametrize("change,code", [
    (lambda c: c["Origins"]["Items"][0].update(ConnectionAttempts=4), "InvalidArgument"),
    (lambda c: c["Origins"]["Items"][0].update(ConnectionTimeout=11), "InvalidArgument"),
    (lambda c: c["OriginGroups"]["Items"][0]["FailoverCriteria"]["StatusCodes"].update(Quantity=1, Items=[501]),
     "InvalidArgument"),
    (lambda c: c["Origins"].update(Quantity=2), "InconsistentQuantities"),
    (lambda c: c["DefaultCacheBehavior"].update(TargetOriginId="nowhere"), "NoSuchOrigin"),
    (lambda c: c["DefaultCacheBehavior"].update(CachePolicyId="00000000-0000-0000-0000-000000000000"), "NoSuchCachePolicy"),
], ids=["attempts", "timeout", "status-code", "quantity", "target", "cache-policy"])
def test_what_cloudfront_refuses_in_a_distribution(raw_cloudfront: Any, change: Any, code: str) -> None:
    config = _config("b2", uuid.uuid4().hex)
    change(config)
    assert _error(raw_cloudfront.create_distribution, DistributionConfig=config)[0] == code
    assert not [d for d in raw_cloudfront.list_distributions()["DistributionList"].get("Items") or []
                if d["Comment"] == config["CallerReference"]]


def test_a_behaviour_may_target_an_origin_group(cloudfront: Any) -> None:
    # Before: moto answered NoSuchOrigin when the default behaviour targeted an origin group.
    config = _config("b3", uuid.uuid4().hex)
    config["DefaultCacheBehavior"]["TargetOriginId"] = "api"
    created = cloudfront.create_distribution(DistributionConfig=config)["Distribution"]
    assert created["DistributionConfig"]["DefaultCacheBehavior"]["TargetOriginId"] == "api"


def test_updates_and_deletes_need_the_current_etag(cloudfront: Any) -> None:
    created = cloudfront.create_distribution(DistributionConfig=_config("b4", uuid.uuid4().hex))
    distribution_id, first = created["Distribution"]["Id"], created["ETag"]
    config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
    assert _error(cloudfront.update_distribution, Id=distribution_id, IfMatch="E0STALE", DistributionConfig=config) == (
        "PreconditionFailed", 412)
    assert _error(cloudfront.update_distribution, Id=distribution_id, IfMatch=first,
                  DistributionConfig={**config, "CallerReference": "another"})[0] == "IllegalUpdate"
    updated = cloudfront.update_distribution(Id=distribution_id, IfMatch=first, DistributionConfig={**config, "Enabled": False})
    assert updated["ETag"] != first, "an update gives the distribution a new ETag"
    assert cloudfront.get_distribution(Id=distribution_id)["ETag"] == updated["ETag"]
    assert _error(cloudfront.update_distribution, Id=distribution_id, IfMatch=first, DistributionConfig=config)[0] == \
        "PreconditionFailed", "the ETag read before the update is stale now"
    assert _error(cloudfront.delete_distribution, Id=distribution_id, IfMatch=first)[0] == "PreconditionFailed"
    cloudfront.delete_distribution(Id=distribution_id, IfMatch=updated["ETag"])


def test_an_enabled_distribution_is_not_deleted(cloudfront: Any) -> None:
    created = cloudfront.create_distribution(DistributionConfig=_config("b5", uuid.uuid4().hex))
    assert _error(cloudfront.delete_distribution, Id=created["Distribution"]["Id"], IfMatch=created["ETag"]) == (
        "DistributionNotDisabled", 409)


def test_an_invalidation_is_in_progress_then_completed(cloudfront: Any) -> None:
    # Before: moto answered COMPLETED at once, which boto3's invalidation_completed waiter never accepts.
    distribution_id = cloudfront.create_distribution(DistributionConfig=_config("b6", uuid.uuid4().hex))["Distribution"]["Id"]
    batch = {"Paths": {"Quantity": 1, "Items": ["/static/*"]}, "CallerReference": uuid.uuid4().hex}
    created = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch=batch)["Invalidation"]
    assert created["Status"] == "InProgress"
    cloudfront.get_waiter("invalidation_completed").wait(DistributionId=distribution_id, Id=created["Id"],
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert cloudfront.get_invalidation(DistributionId=distribution_id, Id=created["Id"])["Invalidation"]["Status"] == "Completed"
    bad = {"Paths": {"Quantity": 1, "Items": ["static/*"]}, "CallerReference": uuid.uuid4().hex}
    assert _error(cloudfront.create_invalidation, DistributionId=distribution_id, InvalidationBatch=bad)[0] == "InvalidArgument"


def test_cache_policies_managed_and_custom(cloudfront: Any) -> None:
    optimized = cloudfront.get_cache_policy(Id="658327ea-f89d-4fab-a63d-7e88639e58f6")["CachePolicy"]["CachePolicyConfig"]
    assert (optimized["Name"], optimized["MinTTL"], optimized["DefaultTTL"], optimized["MaxTTL"]) == (
        "Managed-CachingOptimized", 1, 86400, 31536000)
    managed = cloudfront.list_cache_policies(Type="managed")["CachePolicyList"]["Items"]
    assert {p["CachePolicy"]["Id"] for p in managed} >= {"658327ea-f89d-4fab-a63d-7e88639e58f6",
                                                           "4cc15a8a-d715-48a4-82b8-cc0b614638fe"}
    name = f"api-{uuid.uuid4().hex[:8]}"
    config = {"Name": name, "MinTTL": 0, "DefaultTTL": 5, "MaxTTL": 60, "ParametersInCacheKeyAndForwardedToOrigin": {
        "EnableAcceptEncodingGzip": True, "HeadersConfig": {"HeaderBehavior": "none"},
        "CookiesConfig": {"CookieBehavior": "none"},
        "QueryStringsConfig": {"QueryStringBehavior": "whitelist", "QueryStrings": {"Quantity": 1, "Items": ["page"]}}}}
    created = cloudfront.create_cache_policy(CachePolicyConfig=config)
    policy_id = created["CachePolicy"]["Id"]
    got = cloudfront.get_cache_policy_config(Id=policy_id)["CachePolicyConfig"]
    assert got["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]["QueryStrings"]["Items"] == ["page"]
    assert _error(cloudfront.create_cache_policy, CachePolicyConfig=config) == ("CachePolicyAlreadyExists", 409)
    assert _error(cloudfront.create_cache_policy, CachePolicyConfig={**config, "Name": name + "x", "MinTTL": 10})[0] == \
        "InvalidArgument"
    assert _error(cloudfront.delete_cache_policy, Id="658327ea-f89d-4fab-a63d-7e88639e58f6", IfMatch="x")[0] == "IllegalDelete"
    distribution = _config("b7", uuid.uuid4().hex)
    distribution["DefaultCacheBehavior"]["CachePolicyId"] = policy_id
    cloudfront.create_distribution(DistributionConfig=distribution)
    assert _error(cloudfront.delete_cache_policy, Id=policy_id, IfMatch=created["ETag"]) == ("CachePolicyInUse", 409)
    assert _error(cloudfront.delete_cache_policy, Id=policy_id, IfMatch="E0STALE") == ("PreconditionFailed", 412)


def test_a_distribution_names_an_existing_cloudfront_web_acl(cloudfront: Any, edge_client: Any) -> None:
    waf = edge_client("wafv2")
    regional = waf.create_web_acl(Name=f"r-{uuid.uuid4().hex[:8]}", Scope="REGIONAL", DefaultAction={"Allow": {}},
                                  VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
                                                    "MetricName": "r"})["Summary"]["ARN"]
    for web_acl in (regional, regional.replace(":regional/", ":global/").replace("/r-", "/missing-")):
        config = _config("b8", uuid.uuid4().hex, WebACLId=web_acl)
        assert _error(cloudfront.create_distribution, DistributionConfig=config)[0] == "InvalidWebACLId"
    arn = waf.create_web_acl(Name=f"g-{uuid.uuid4().hex[:8]}", Scope="CLOUDFRONT", DefaultAction={"Allow": {}},
                             VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False,
                                               "MetricName": "g"})["Summary"]["ARN"]
    created = cloudfront.create_distribution(DistributionConfig=_config("b8", uuid.uuid4().hex, WebACLId=arn))
    assert created["Distribution"]["DistributionConfig"]["WebACLId"] == arn
