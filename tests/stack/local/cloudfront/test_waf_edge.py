"""WAF on the local stack's edges: a distribution's web ACL blocks at the edge, and the API reports it."""
from __future__ import annotations

import datetime
import http.client
import os
import uuid
from typing import Any, Iterator

import pytest

REGION = "us-east-1"


def _get(edge: str, port: int, host: str, path: str, source: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection(edge, port, timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status, str(response.getheader("X-Cache"))
    finally:
        connection.close()


@pytest.fixture
def protected(aws_client: Any, environment: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """A distribution (S3 origin) whose web ACL blocks the bot subnet; (distribution, web ACL summary)."""
    s3, cloudfront, wafv2 = aws_client("s3", REGION), aws_client("cloudfront", REGION), aws_client("wafv2", REGION)
    bucket = f"waf-assets-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>SecureCart</h1>", ContentType="text/html")
    bots = wafv2.create_ip_set(Name=f"bots-{uuid.uuid4().hex[:6]}", Scope="CLOUDFRONT", IPAddressVersion="IPV4",
                               Addresses=[environment.bots["botnet"].subnet])["Summary"]
    visibility = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}
    acl = wafv2.create_web_acl(
        Name=f"edge-{uuid.uuid4().hex[:6]}", Scope="CLOUDFRONT", DefaultAction={"Allow": {}},
        VisibilityConfig={**visibility, "MetricName": "edge"},
        Rules=[{"Name": "bots", "Priority": 0, "Action": {"Block": {}}, "VisibilityConfig": {**visibility, "MetricName": "bots"},
                "Statement": {"IPSetReferenceStatement": {"ARN": bots["ARN"]}}}])["Summary"]
    created = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": bucket, "Comment": "waf test", "Enabled": True, "WebACLId": acl["ARN"],
        "Origins": {"Quantity": 1, "Items": [{"Id": "assets", "DomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "assets", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    })["Distribution"]
    try:
        yield created, acl
    finally:
        found = cloudfront.get_distribution_config(Id=created["Id"])
        etag = cloudfront.update_distribution(Id=created["Id"], IfMatch=found["ETag"],
                                              DistributionConfig=found["DistributionConfig"] | {"Enabled": False})["ETag"]
        cloudfront.delete_distribution(Id=created["Id"], IfMatch=etag)
        token = wafv2.get_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"])["LockToken"]
        wafv2.delete_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"], LockToken=token)
        token = wafv2.get_ip_set(Name=bots["Name"], Scope="CLOUDFRONT", Id=bots["Id"])["LockToken"]
        wafv2.delete_ip_set(Name=bots["Name"], Scope="CLOUDFRONT", Id=bots["Id"], LockToken=token)
        s3.delete_object(Bucket=bucket, Key="index.html")
        s3.delete_bucket(Bucket=bucket)


def test_the_web_acl_blocks_at_the_edge_and_get_sampled_requests_shows_it(
        local_stack: Any, environment: Any, aws_client: Any, protected: tuple[dict[str, Any], dict[str, Any]]) -> None:
    distribution, acl = protected
    fra, port = environment.edge_locations["FRA"].address, environment.local.edge_http_port
    bot = str(environment.bots["botnet"].network.network_address + 10)
    user = str(environment.vantage_points["frankfurt"].network.network_address + 10)
    assert _get(fra, port, distribution["DomainName"], "/index.html", bot) == (403, "Error from cloudfront")
    assert _get(fra, port, distribution["DomainName"], "/index.html", user) == (200, "Miss from cloudfront")
    # What the user's request put in the cache is not served to the bot.
    assert _get(fra, port, distribution["DomainName"], "/index.html", bot)[0] == 403
    now = datetime.datetime.now(datetime.timezone.utc)
    sampled = aws_client("wafv2", REGION).get_sampled_requests(
        WebAclArn=acl["ARN"], RuleMetricName="bots", Scope="CLOUDFRONT", MaxItems=10,
        TimeWindow={"StartTime": now - datetime.timedelta(minutes=5), "EndTime": now + datetime.timedelta(minutes=1)})
    assert sampled["PopulationSize"] == 2
    assert {(s["Request"]["ClientIP"], s["Request"]["Country"], s["Action"]) for s in sampled["SampledRequests"]} == \
        {(bot, environment.bots["botnet"].country, "BLOCK")}


def test_a_body_rule_sees_what_the_viewer_posted(
        local_stack: Any, environment: Any, aws_client: Any, protected: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The edge hands WAF the request body: a Body byte match blocks the POST that carries its string and
    only that one (before, the edge passed an empty body, so such a rule never matched)."""
    distribution, acl = protected
    wafv2 = aws_client("wafv2", REGION)
    found = wafv2.get_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"])
    visibility = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "sqli"}
    body_rule = {"Name": "sqli", "Priority": 1, "Action": {"Block": {}}, "VisibilityConfig": visibility,
                 "Statement": {"ByteMatchStatement": {"FieldToMatch": {"Body": {}}, "PositionalConstraint": "CONTAINS",
                                                      "SearchString": b"drop table",
                                                      "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}]}}}
    web_acl = found["WebACL"]
    wafv2.update_web_acl(Name=acl["Name"], Scope="CLOUDFRONT", Id=acl["Id"], LockToken=found["LockToken"],
                         DefaultAction=web_acl["DefaultAction"], VisibilityConfig=web_acl["VisibilityConfig"],
                         Rules=[*web_acl["Rules"], body_rule])
    fra, port = environment.edge_locations["FRA"].address, environment.local.edge_http_port
    user = str(environment.vantage_points["frankfurt"].network.network_address + 10)
    for body in (b'{"note": "gift wrap"}', b'{"note": "1; DROP TABLE orders"}'):
        connection = http.client.HTTPConnection(fra, port, timeout=10, source_address=(user, 0))
        try:
            connection.request("POST", "/index.html", body=body, headers={"Host": distribution["DomainName"],
                                                                          "Content-Type": "application/json"})
            connection.getresponse().read()
        finally:
            connection.close()
    now = datetime.datetime.now(datetime.timezone.utc)
    sampled = wafv2.get_sampled_requests(
        WebAclArn=acl["ARN"], RuleMetricName="sqli", Scope="CLOUDFRONT", MaxItems=10,
        TimeWindow={"StartTime": now - datetime.timedelta(minutes=5), "EndTime": now + datetime.timedelta(minutes=1)})
    assert sampled["PopulationSize"] == 1
    assert [(s["Request"]["Method"], s["Action"]) for s in sampled["SampledRequests"]] == [("POST", "BLOCK")]
