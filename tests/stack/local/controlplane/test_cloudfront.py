"""CloudFront and S3 through the control plane: what AWS answers that moto alone does not."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

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
