"""Requests that cannot be read as an API call get AWS's error in the service's format, never an HTML page."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import requests
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stack.local.controlplane import route53 as route53_rules
from stack.local.endpoint import AwsEndpoint
from stack.local.part import LOCAL_CREDENTIALS
from tests.stack.local.controlplane.conftest import FORM, signed

EC2_VERSION = "Version=2016-11-15"


@pytest.mark.parametrize("body,code,fragment", [
    (f"Action=FooBar&{EC2_VERSION}".encode(), "InvalidAction", "The action FooBar is not valid"),
    (EC2_VERSION.encode(), "MissingAction", "parameter Action"),
    (b"", "MissingAction", "parameter Action"),
    (bytes(range(256)) * 4, "MissingAction", "parameter Action"),
    (f"Action=CreateNetworkAclEntry&{EC2_VERSION}&RuleNumber=5&Protocol=-1&RuleAction=deny&Egress=false"
     "&CidrBlock=0.0.0.0/0".encode(), "MissingParameter", "must contain the parameter NetworkAclId"),
    (f"Action=DescribeNetworkAcls&{EC2_VERSION}&NetworkAclId.1=acl-1&Filter.1.Name=x".encode(), None, None),
])
def test_ec2_action_and_required_parameters(edge: AwsEndpoint, body: bytes, code: str | None, fragment: str | None) -> None:
    response = signed(edge, "ec2", "POST", "/", body, FORM)
    if code is None:
        assert response.status_code != 500 and "<html" not in response.text.lower()
        return
    assert response.status_code == 400
    assert f"<Code>{code}</Code>" in response.text and fragment in response.text
    assert response.text.startswith("<?xml") and "<Response><Errors>" in response.text


def test_query_protocol_required_parameter(edge: AwsEndpoint) -> None:
    response = signed(edge, "rds", "POST", "/", b"Action=RebootDBInstance&Version=2014-10-31", FORM)
    assert response.status_code == 400
    assert "<Code>MissingParameter</Code>" in response.text and "DBInstanceIdentifier" in response.text
    assert "<ErrorResponse" in response.text


def test_unknown_service_names_the_service(edge_client: Any) -> None:
    zonal_shift = edge_client("arc-zonal-shift", "us-west-2")  # neither moto nor the control plane serves it
    with pytest.raises(ClientError) as raised:
        zonal_shift.list_zonal_shifts()
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidAction", 400)
    assert "'arc-zonal-shift'" in error["Error"]["Message"]


@pytest.mark.parametrize("body", [
    b"<CreateHealthCheckRequest><unclosed",
    b"this is not XML at all",
    bytes(range(256)),
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<CreateHealthCheckRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><CallerReference>&x;</CallerReference>'
    b"</CreateHealthCheckRequest>",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><CreateHealthCheckRequest><CallerReference>&c;</CallerReference>'
    b"</CreateHealthCheckRequest>",
    b"<a>" + b"x" * (1 << 20) + b"</a>",
], ids=["invalid-xml", "not-xml", "binary", "xxe", "entity-expansion", "1mb"])
def test_malformed_route53_body(edge: AwsEndpoint, body: bytes) -> None:
    response = signed(edge, "route53", "POST", "/2013-04-01/healthcheck", body)
    assert response.status_code == 400
    assert "<Code>MalformedInput</Code>" in response.text and "<ErrorResponse" in response.text
    assert "root:" not in response.text  # the XXE payload was never expanded


def test_malformed_json_body(edge: AwsEndpoint) -> None:
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
    response = signed(edge, "dynamodb", "POST", "/", b"{not json", headers)
    assert response.status_code == 400 and response.json()["__type"] == "SerializationException"
    headers["X-Amz-Target"] = "DynamoDB_20120810.FooBar"
    response = signed(edge, "dynamodb", "POST", "/", b"{}", headers)
    assert response.status_code == 400 and response.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("target", ["globalaccelerator.ListThings", "GlobalAccelerator_V20180706.ListThings", ""])
def test_a_call_the_control_plane_serves_itself_with_an_unknown_target_is_unknown_operation(
        edge: AwsEndpoint, target: str) -> None:
    # Global Accelerator is served by the control plane, not moto: a target it cannot name must not fall through.
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    response = signed(edge, "globalaccelerator", "POST", "/", b"{}", headers)
    assert response.status_code == 400 and response.json()["__type"] == "UnknownOperationException", response.text


def test_unexpected_failure_is_internal_failure(edge: AwsEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: Any, plane: Any) -> None:
        raise RuntimeError("a bug in a validator")

    monkeypatch.setitem(route53_rules.VALIDATE, "CreateHealthCheck", broken)
    once = boto3.session.Session(**LOCAL_CREDENTIALS).client(  # a 500 is retried; once is enough here
        "route53", region_name="us-east-1", endpoint_url=edge.url, config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    with pytest.raises(ClientError) as raised:
        once.create_health_check(CallerReference=os.urandom(4).hex(),
                                  HealthCheckConfig={"Type": "TCP", "IPAddress": "127.16.1.10", "Port": 80})
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalFailure", 500)


def test_moto_crash_is_internal_failure(edge: AwsEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    plane = edge._server.app

    class Crashing:
        get_application = plane.moto.get_application

        def __call__(self, environ: Any, start_response: Any) -> Any:
            raise RuntimeError("moto fell over")

    monkeypatch.setattr(plane, "moto", Crashing())
    response = signed(edge, "ec2", "POST", "/", f"Action=DescribeVpcs&{EC2_VERSION}".encode(), FORM)
    assert response.status_code == 500
    assert "<Code>InternalFailure</Code>" in response.text and "<html" not in response.text.lower()


@pytest.mark.parametrize("path,body,headers", [
    ("/nowhere", b"", {}), ("/", b"\x00\xff" * 100, {}), ("/", b"Action=FooBar", FORM),
    ("/x", b"{}", {"X-Amz-Target": "nodot"}),  # moto's own guess at the service raised on this one
    ("/bucket", b"\x00" * 64, {"Content-Type": "multipart/form-data"}),
])
def test_unsigned_request_needs_authentication(edge: AwsEndpoint, path: str, body: bytes, headers: dict[str, str]) -> None:
    response = requests.post(edge.url + path, data=body, headers=headers, timeout=30)
    assert response.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in response.text and "<html" not in response.text.lower()


def test_apex_soa_value_is_text(edge_client: Any) -> None:
    route53 = edge_client("route53")
    zone = route53.create_hosted_zone(Name=f"soa{os.urandom(3).hex()}.example.", CallerReference=os.urandom(4).hex())
    records = route53.list_resource_record_sets(HostedZoneId=zone["HostedZone"]["Id"])["ResourceRecordSets"]
    (soa,) = [r["ResourceRecords"][0]["Value"] for r in records if r["Type"] == "SOA"]
    fields = soa.split()
    assert len(fields) == 7 and fields[0].startswith("ns-") and [int(f) for f in fields[2:]] == [1, 7200, 900, 1209600, 86400]


def test_apis_sharing_a_signing_name_still_pass(edge_client: Any) -> None:
    # DynamoDB Streams signs as "dynamodb" and SES v2 as "ses": neither is a malformed DynamoDB or SES v1 call.
    assert edge_client("dynamodbstreams").list_streams()["Streams"] == []
    assert edge_client("sesv2").list_email_identities()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_moto_answers_labelled_html_pass_through(edge_client: Any) -> None:
    # moto sends Secrets Manager's JSON with Content-Type text/html; only an HTML page is an error.
    secrets = edge_client("secretsmanager")
    name = f"s-{os.urandom(3).hex()}"
    secrets.create_secret(Name=name, SecretString='{"username": "u", "password": "p"}')
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == '{"username": "u", "password": "p"}'


def test_a_body_that_is_not_xml_by_design_passes(edge_client: Any) -> None:
    # S3 is rest-xml too, but PutObject's body is the object's bytes, not an XML document.
    s3 = edge_client("s3")
    bucket = f"b-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"<not xml \x00\xff")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"<not xml \x00\xff"


def test_route53_path_that_is_no_operation(edge: AwsEndpoint) -> None:
    # moto crashed decoding this body (an HTML 500 before, InternalFailure after the first fix).
    response = signed(edge, "route53", "PUT", "/2013-04-01/healthcheck", b"\x84\xff\x00binary")
    assert response.status_code == 404
    assert "<Code>InvalidAction</Code>" in response.text and "PUT /2013-04-01/healthcheck" in response.text


def _acl(edge_client: Any, region: str) -> str:
    ec2 = edge_client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="127.41.0.0/16")["Vpc"]["VpcId"]
    return str(ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"])


def _presigned_entry(edge_client: Any, region: str, acl: str, number: int, cidr: str) -> str:
    return str(edge_client("ec2", region).generate_presigned_url("create_network_acl_entry", Params={
        "NetworkAclId": acl, "RuleNumber": number, "Protocol": "-1", "RuleAction": "deny", "Egress": False,
        "CidrBlock": cidr}))


def test_a_presigned_call_is_validated_like_a_signed_one(edge_client: Any) -> None:
    # Before: the scope in X-Amz-Credential was not read, so the call skipped validation and moto
    # answered it as S3's ListBuckets (200 ListAllMyBucketsResult).
    acl = _acl(edge_client, "us-west-2")
    response = requests.get(_presigned_entry(edge_client, "us-west-2", acl, 10, "999.0.0.0/8"), timeout=30)
    assert response.status_code == 400, response.text
    assert "<Code>InvalidParameterValue</Code>" in response.text and "999.0.0.0/8" in response.text


def test_a_valid_presigned_call_reaches_its_service_and_region(edge_client: Any) -> None:
    acl = _acl(edge_client, "us-west-2")
    response = requests.get(_presigned_entry(edge_client, "us-west-2", acl, 10, "100.68.0.18/18"), timeout=30)
    assert response.status_code == 200 and "CreateNetworkAclEntryResponse" in response.text, response.text
    entries = edge_client("ec2", "us-west-2").describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    assert [e["CidrBlock"] for e in entries if e["RuleNumber"] == 10] == ["100.68.0.0/18"]  # canonicalised, as on AWS


@pytest.mark.parametrize("version,marker", [("s3", "AWSAccessKeyId="), ("s3v4", "X-Amz-Credential=")])
def test_presigned_s3_urls_still_work(edge: AwsEndpoint, version: str, marker: str) -> None:
    # S3 alone still takes Signature Version 2, and boto3 presigns S3 URLs with it by default.
    s3 = boto3.session.Session(**LOCAL_CREDENTIALS).client("s3", region_name="us-east-1", endpoint_url=edge.url,
                                                           config=Config(signature_version=version))
    bucket = f"p-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert marker in url
    response = requests.get(url, timeout=30)
    assert (response.status_code, response.content) == (200, b"presigned")


@pytest.mark.parametrize("query,headers", [
    ("", {"Authorization": "AWS x:y"}),  # Signature Version 2 (S3's old header)
    ("", {"Authorization": "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00"}),  # SigV4 without a scope
    ("AWSAccessKeyId=x&Signature=y&SignatureVersion=2&SignatureMethod=HmacSHA256", {}),  # SigV2 in the query
    ("X-Amz-Credential=x%2Fnot-a-scope&X-Amz-Signature=00", {}),
], ids=["sigv2-header", "sigv4-no-scope", "sigv2-query", "bad-credential"])
def test_a_request_not_signed_with_sigv4_is_incomplete_signature(edge: AwsEndpoint, query: str,
                                                                 headers: dict[str, str]) -> None:
    # Before: any Authorization header passed, and moto answered it as S3 (200 ListAllMyBucketsResult).
    body = (f"Action=CreateNetworkAclEntry&{EC2_VERSION}&NetworkAclId=acl-1&RuleNumber=10&Protocol=-1"
            "&RuleAction=deny&Egress=false&CidrBlock=999.0.0.0/8")
    response = requests.post(f"{edge.url}/?{query}", data=body, headers={**FORM, **headers}, timeout=30)
    assert response.status_code == 400, response.text
    assert "<Code>IncompleteSignature</Code>" in response.text and "SigV4" in response.text


def test_moto_own_paths_stay_unsigned(edge: AwsEndpoint) -> None:
    assert requests.get(f"{edge.url}/moto-api/data.json", timeout=30).status_code == 200


def test_a_presigned_call_for_an_unknown_service_names_the_service(edge_client: Any) -> None:
    # The service docs/aws-semantics.md gives as its example of one the endpoint does not serve.
    semantics = (Path(__file__).parents[4] / "docs" / "aws-semantics.md").read_text()
    assert "| a service the endpoint does not serve (e.g. `arc-zonal-shift`) |" in semantics
    url = edge_client("arc-zonal-shift", "us-west-2").generate_presigned_url("list_zonal_shifts")
    response = requests.get(url, timeout=30)
    assert response.status_code == 400 and "InvalidAction" in response.text and "'arc-zonal-shift'" in response.text
