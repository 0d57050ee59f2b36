"""SecureCart's edge: its assets in S3 and one CloudFront distribution in front of the assets and checkout.

The distribution (built through boto3 like the rest of the stack, idempotently):

    default behaviour  -> the assets bucket (S3 origin, reached through an origin access control),
                          cache policy CachingOptimized (AWS's managed one: a day by default)
    /products*         -> origin group ``checkout``: primary checkout in the first active Region,
                          secondary in the second, failing over on 500, 502, 503 and 504 and when the
                          primary cannot be reached; cache policy UseOriginCacheControlHeaders-QueryStrings
                          (managed: checkout's Cache-Control decides, the query string is in the key)

The custom origins are checkout's Regional names (``<region>.checkout.<zone>``, the multivalue sets of
stack.builder) on checkout's port, over HTTP. ``ConnectionAttempts`` x ``ConnectionTimeout`` is how long
a request waits on an unreachable primary before it goes to the secondary: the reference stack lowers
AWS's defaults (3 x 10 s) as AWS advises for origin failover, so a game day sees a failover worth having.

Everything carries the stack and run tags (the bucket and the distribution; an origin access control
has no tags, so its name carries the run). ``find`` is the read-only half, for attach mode and discovery.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from base.clients import ClientFactory
from environments.model import AwsEnvironment, LocalEnvironment
from stack.handles import CdnHandle

STACK_TAG = "gameday:stack"
GLOBAL = "us-east-1"  # CloudFront's API lives there
ASSETS_ORIGIN = "assets"
API_GROUP = "checkout"
API_PATH = "/products*"
FAILOVER_STATUS_CODES = (500, 502, 503, 504)
CONNECTION_ATTEMPTS = 2
CONNECTION_TIMEOUT_S = 5
ORIGIN_READ_TIMEOUT_S = 10
# AWS's managed cache policies (the same ids in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# The API's answers are cached as long as checkout's Cache-Control says (not at all without one), keyed by
# the query string: a request the edge cannot answer from its cache goes to the origin group.
USE_ORIGIN_CACHE_CONTROL_QUERY_STRINGS = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
# Product images and the shop's JavaScript: what the edge caches for a day.
ASSETS: dict[str, tuple[str, str]] = {
    "static/app.js": ("application/javascript", "document.title = 'SecureCart';\n"),
    "static/style.css": ("text/css", "body { font-family: sans-serif; }\n"),
    "images/products/sku-1.svg": ("image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>\n'),
    "images/products/sku-2.svg": ("image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>\n'),
}
ASSET_CACHE_CONTROL = "public, max-age=86400"


@dataclass(frozen=True)
class CdnSpec:
    stack_name: str
    zone: str  # the hosted zone's name, with its trailing dot
    regions: tuple[str, str]  # the API's primary and secondary Regions
    checkout_port: int
    bucket_region: str


def spec_of(environment: LocalEnvironment | AwsEnvironment, stack_name: str) -> CdnSpec:
    """The edge of ``environment``'s stack: the API's primary and secondary are its first two active Regions."""
    active = environment.active_regions
    return CdnSpec(stack_name, environment.stack.zone, (active[0], active[1 % len(active)]),
                   environment.stack.checkout_port, active[0])


def bucket_name(stack_name: str, account_id: str) -> str:
    """Bucket names are global across AWS: the account keeps two teams' stacks apart."""
    return f"{stack_name}-assets-{account_id}"


def access_control_name(stack_name: str, run_id: str) -> str:
    return f"{stack_name}-assets-{run_id}"[:64]


def _tags(pairs: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pairs or ()}


class Cdn:
    def __init__(self, spec: CdnSpec, clients: ClientFactory, tags: list[dict[str, str]], run_id: str) -> None:
        self.spec, self.clients, self.tags, self.run_id = spec, clients, tags, run_id
        self.cloudfront = clients("cloudfront", GLOBAL)
        self.s3 = clients("s3", spec.bucket_region)

    # -- read-only -------------------------------------------------------------------------------

    def find(self, tag: tuple[str, str] | None = None) -> CdnHandle | None:
        """The distribution carrying the stack tag (``tag``: another key=value), or None (reads only)."""
        key, value = tag or (STACK_TAG, self.spec.stack_name)
        for page in self.cloudfront.get_paginator("list_distributions").paginate():
            for summary in page["DistributionList"].get("Items") or []:
                tags = _tags(self.cloudfront.list_tags_for_resource(Resource=summary["ARN"])["Tags"].get("Items"))
                if tags.get(key) == value:
                    return self._handle(summary)
        return None

    def _handle(self, summary: dict[str, Any]) -> CdnHandle:
        origins = {o["Id"]: o["DomainName"] for o in summary["Origins"]["Items"]}
        return CdnHandle(summary["Id"], summary["DomainName"], summary["ARN"],
                         origins[ASSETS_ORIGIN].split(".s3.")[0], self.spec.bucket_region,
                         tuple(origins[f"checkout-{region}"] for region in self.spec.regions), API_PATH)

    # -- building --------------------------------------------------------------------------------

    def ensure(self, account_id: str, wait_delay_s: float, wait_attempts: int) -> CdnHandle:
        """Create what is missing (bucket, assets, distribution) and wait until it is deployed."""
        bucket = bucket_name(self.spec.stack_name, account_id)
        self._bucket(bucket)
        found = self.find()
        if found is None:
            control = self.cloudfront.create_origin_access_control(OriginAccessControlConfig={
                "Name": access_control_name(self.spec.stack_name, self.run_id), "SigningProtocol": "sigv4",
                "SigningBehavior": "always", "OriginAccessControlOriginType": "s3",
                "Description": f"SecureCart's assets ({self.spec.stack_name})"})["OriginAccessControl"]["Id"]
            config = self.distribution_config(bucket, control)
            created = self.cloudfront.create_distribution_with_tags(DistributionConfigWithTags={
                "DistributionConfig": config, "Tags": {"Items": self.tags}})["Distribution"]
            self._bucket_policy(bucket, created["ARN"])
        self.cloudfront.get_waiter("distribution_deployed").wait(
            Id=(found or self.find() or _missing()).distribution_id,
            WaiterConfig={"Delay": wait_delay_s, "MaxAttempts": wait_attempts})
        return found or self.find() or _missing()

    def _bucket(self, bucket: str) -> None:
        try:
            present = {o["Key"] for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                       for o in page.get("Contents", [])}
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchBucket":
                raise
            where = {} if self.spec.bucket_region == "us-east-1" else {
                "CreateBucketConfiguration": {"LocationConstraint": self.spec.bucket_region}}
            self.s3.create_bucket(Bucket=bucket, **where)
            self.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": self.tags})
            present = set()
        for key, (content_type, body) in ASSETS.items():
            if key not in present:
                self.s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type,
                                   CacheControl=ASSET_CACHE_CONTROL)

    def _bucket_policy(self, bucket: str, distribution_arn: str) -> None:
        """Only this distribution reads the bucket (the origin access control signs its requests)."""
        self.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "CloudFrontReadsAssets", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}}}]}))

    def distribution_config(self, bucket: str, access_control_id: str) -> dict[str, Any]:
        spec = self.spec
        checkout = [{
            "Id": f"checkout-{region}", "DomainName": f"{region}.checkout.{spec.zone.rstrip('.')}",
            "ConnectionAttempts": CONNECTION_ATTEMPTS, "ConnectionTimeout": CONNECTION_TIMEOUT_S,
            "CustomOriginConfig": {"HTTPPort": spec.checkout_port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only",
                                   "OriginReadTimeout": ORIGIN_READ_TIMEOUT_S, "OriginKeepaliveTimeout": 5,
                                   "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]}},
        } for region in spec.regions]
        assets = {"Id": ASSETS_ORIGIN, "DomainName": f"{bucket}.s3.{spec.bucket_region}.amazonaws.com",
                  "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": access_control_id,
                  "ConnectionAttempts": 3, "ConnectionTimeout": 10}
        origins = [assets, *checkout]
        group = {"Id": API_GROUP,
                 "FailoverCriteria": {"StatusCodes": {"Quantity": len(FAILOVER_STATUS_CODES),
                                                      "Items": list(FAILOVER_STATUS_CODES)}},
                 "Members": {"Quantity": 2, "Items": [{"OriginId": o["Id"]} for o in checkout]}}
        read = {"Quantity": 2, "Items": ["GET", "HEAD"], "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}
        return {
            "CallerReference": f"{spec.stack_name}-{self.run_id}", "Comment": f"SecureCart ({spec.stack_name})",
            "Enabled": True, "PriceClass": "PriceClass_All", "HttpVersion": "http2", "IsIPV6Enabled": False,
            "Origins": {"Quantity": len(origins), "Items": origins},
            "OriginGroups": {"Quantity": 1, "Items": [group]},
            "DefaultCacheBehavior": {"TargetOriginId": ASSETS_ORIGIN, "ViewerProtocolPolicy": "allow-all",
                                     "CachePolicyId": CACHING_OPTIMIZED, "Compress": True, "AllowedMethods": read},
            "CacheBehaviors": {"Quantity": 1, "Items": [{
                "PathPattern": API_PATH, "TargetOriginId": API_GROUP, "ViewerProtocolPolicy": "allow-all",
                "CachePolicyId": USE_ORIGIN_CACHE_CONTROL_QUERY_STRINGS, "Compress": True, "AllowedMethods": read}]},
        }


def _missing() -> CdnHandle:
    raise RuntimeError("the distribution just created is not listed")  # CloudFront lists it at once


def build(clients: ClientFactory, spec: CdnSpec, tags: list[dict[str, str]], run_id: str, create: bool,
          wait_delay_s: float, wait_attempts: int) -> CdnHandle | None:
    """The builder's hook: the edge built (``create``), or found as it is (attach mode: None when absent)."""
    cdn = Cdn(spec, clients, tags, run_id)
    if not create:
        return cdn.find()
    account_id = str(clients("sts", GLOBAL).get_caller_identity()["Account"])
    return cdn.ensure(account_id, wait_delay_s, wait_attempts)

