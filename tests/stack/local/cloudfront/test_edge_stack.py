"""The README's edge contract on the local stack: the distribution's name resolves to the edge nearest the
client's ECS subnet, a request from a vantage point's address is a Miss then a Hit, an invalidation makes it
a Miss again. Run with the CLIs the README shows (dig, curl) where they are installed, else their equivalents."""
from __future__ import annotations

import http.client
import ipaddress
import os
import shutil
import subprocess
import time
from typing import Any, Iterator

import dns.edns
import dns.message
import dns.query
import dns.rdatatype
import pytest

REGION = "us-east-1"


def _disable_and_delete(cloudfront: Any, distribution_id: str) -> None:
    found = cloudfront.get_distribution_config(Id=distribution_id)
    config = found["DistributionConfig"] | {"Enabled": False}
    etag = cloudfront.update_distribution(Id=distribution_id, IfMatch=found["ETag"], DistributionConfig=config)["ETag"]
    cloudfront.delete_distribution(Id=distribution_id, IfMatch=etag)


@pytest.fixture
def distribution(aws_client: Any) -> Iterator[tuple[str, str]]:
    """A distribution in front of a new S3 bucket holding /img/logo.png; (its id, its domain name)."""
    s3, cloudfront = aws_client("s3", REGION), aws_client("cloudfront", "us-east-1")
    bucket = f"edge-assets-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="img/logo.png", Body=b"\x89PNG logo", ContentType="image/png", CacheControl="max-age=3600")
    created = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": bucket, "Comment": "edge contract test", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "assets", "DomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "assets", "ViewerProtocolPolicy": "allow-all",
                                 "MinTTL": 0, "DefaultTTL": 86400, "MaxTTL": 31536000,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    })["Distribution"]
    try:
        yield created["Id"], created["DomainName"]
    finally:
        _disable_and_delete(cloudfront, created["Id"])
        s3.delete_object(Bucket=bucket, Key="img/logo.png")
        s3.delete_bucket(Bucket=bucket)


def _resolve(local_stack: Any, name: str, subnet: str) -> str:
    if shutil.which("dig"):
        out = subprocess.run(["dig", "+short", f"@{local_stack.dns_host}", "-p", str(local_stack.dns_port), name,
                              f"+subnet={subnet}"], capture_output=True, text=True, timeout=10, check=True).stdout
        return out.split()[0]
    network = ipaddress.IPv4Network(subnet)
    query = dns.message.make_query(name, dns.rdatatype.A, use_edns=0,
                                   options=[dns.edns.ECSOption(str(network.network_address), network.prefixlen)])
    answer = dns.query.udp(query, local_stack.dns_host, port=local_stack.dns_port, timeout=5)
    return str(answer.answer[0][0].address)


def _get(edge: str, port: int, host: str, path: str, source: str) -> tuple[int, dict[str, str], bytes]:
    if shutil.which("curl") and port == 80:
        out = subprocess.run(["curl", "-s", "-i", "--max-time", "10", "--interface", source, "-H", f"Host: {host}",
                              f"http://{edge}{path}"], capture_output=True, timeout=20, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {n.strip().lower(): v.strip() for n, _, v in (line.partition(":") for line in lines[1:])}
        return int(lines[0].split()[1]), headers, body
    connection = http.client.HTTPConnection(edge, port, timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, {n.lower(): v for n, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_dig_gives_the_nearest_edge_and_curl_shows_miss_hit_and_miss_after_an_invalidation(
        local_stack: Any, environment: Any, aws_client: Any, distribution: tuple[str, str]) -> None:
    distribution_id, name = distribution
    frankfurt = environment.vantage_points["frankfurt"].network
    fra, port = environment.edge_locations["FRA"].address, environment.local.edge_http_port
    assert _resolve(local_stack, name, str(frankfurt)) == fra
    assert _resolve(local_stack, name, str(environment.vantage_points["singapore"].network)) == \
        environment.edge_locations["SIN"].address
    source = str(frankfurt.network_address + 10)
    status, headers, body = _get(fra, port, name, "/img/logo.png", source)
    assert (status, headers["x-cache"], body) == (200, "Miss from cloudfront", b"\x89PNG logo")
    status, headers, body = _get(fra, port, name, "/img/logo.png", source)
    assert (status, headers["x-cache"], body) == (200, "Hit from cloudfront", b"\x89PNG logo") and int(headers["age"]) >= 0
    assert headers["x-amz-cf-pop"].startswith("FRA")
    aws_client("cloudfront", "us-east-1").create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/img/*"]}, "CallerReference": f"test-{time.time()}"})
    assert _get(fra, port, name, "/img/logo.png", source)[1]["x-cache"] == "Miss from cloudfront"
    status, headers, _ = _get(fra, port, "unknown.cloudfront.net", "/img/logo.png", source)
    assert status == 403 and headers["x-cache"] == "Error from cloudfront"
