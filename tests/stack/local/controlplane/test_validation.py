"""The control plane rejects what AWS rejects and moto accepts, with AWS's code and status."""
from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from stack.local.endpoint import AwsEndpoint


@pytest.fixture(scope="module")
def endpoint(edge: AwsEndpoint) -> AwsEndpoint:
    return edge  # the control plane alone, from this folder's conftest


@pytest.fixture(scope="module")
def client(edge_client: Any) -> Any:
    return edge_client


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response


def _http_check(**extra: Any) -> dict[str, Any]:
    return {"Type": "HTTP", "IPAddress": "127.16.1.10", "Port": 8080, "ResourcePath": "/health", **extra}


@pytest.mark.parametrize("config,fragment", [
    (_http_check(RequestInterval=20), "RequestInterval must be 10 or 30, got 20"),
    (_http_check(FailureThreshold=11), "FailureThreshold must be between 1 and 10, got 11"),
    ({"Type": "CALCULATED", "HealthThreshold": 300}, "HealthThreshold must be between 0 and 256, got 300"),
    (_http_check(Regions=["us-east-1", "us-west-2", "eu-central-1"]), "eu-central-1 is not a health-checker Region"),
    ({"Type": "HTTP_STR_MATCH", "IPAddress": "127.16.1.10", "Port": 80}, "needs a SearchString"),
])
def test_create_health_check_ranges(client: Any, config: dict[str, Any], fragment: str) -> None:
    response = _error(client("route53").create_health_check, CallerReference=os.urandom(4).hex(), HealthCheckConfig=config)
    assert response["Error"]["Code"] == "InvalidInput"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in response["Error"]["Message"]


def test_valid_health_check_is_created(client: Any) -> None:
    created = client("route53").create_health_check(CallerReference="ok", HealthCheckConfig=_http_check(RequestInterval=10))
    assert created["HealthCheck"]["HealthCheckConfig"]["RequestInterval"] == 10


def test_aws_cli_gets_the_same_error(endpoint: AwsEndpoint) -> None:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_PROFILE", None)
    aws = os.path.join(os.path.dirname(os.path.realpath(__import__("sys").executable)), "aws")
    result = subprocess.run(
        [aws if os.path.exists(aws) else "aws", "--endpoint-url", endpoint.url, "route53", "create-health-check",
         "--caller-reference", "cli", "--health-check-config",
         "Type=HTTP,IPAddress=127.16.1.10,Port=8080,RequestInterval=20"],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "(InvalidInput)" in result.stderr and "RequestInterval must be 10 or 30" in result.stderr, result.stderr


def test_health_check_version_is_optimistic_concurrency(client: Any) -> None:
    route53 = client("route53")
    check_id = route53.create_health_check(CallerReference="ver", HealthCheckConfig=_http_check())["HealthCheck"]["Id"]
    route53.update_health_check(HealthCheckId=check_id, HealthCheckVersion=1, Inverted=True)
    assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckVersion"] == 2
    response = _error(route53.update_health_check, HealthCheckId=check_id, HealthCheckVersion=1, Inverted=False)
    assert response["Error"]["Code"] == "HealthCheckVersionMismatch"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Inverted"] is True


def _signed_post(endpoint: AwsEndpoint, path: str, body: str) -> requests.Response:
    request = AWSRequest("POST", endpoint.url + path, data=body.encode())
    SigV4Auth(Credentials("testing", "testing"), "route53", "us-east-1").add_auth(request)
    return requests.post(endpoint.url + path, data=body.encode(), headers=dict(request.headers), timeout=10)


@pytest.mark.parametrize("field,value", [("Type", "TCP"), ("RequestInterval", "30")])
def test_update_cannot_change_type_or_interval(client: Any, endpoint: AwsEndpoint, field: str, value: str) -> None:
    # botocore's model has no such members, so a raw request is what a non-boto3 client could send.
    check_id = client("route53").create_health_check(CallerReference=f"imm-{field}", HealthCheckConfig=_http_check())["HealthCheck"]["Id"]
    body = (f'<UpdateHealthCheckRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
            f"<{field}>{value}</{field}></UpdateHealthCheckRequest>")
    response = _signed_post(endpoint, f"/2013-04-01/healthcheck/{check_id}", body)
    assert response.status_code == 400
    assert "<Code>InvalidInput</Code>" in response.text and f"{field} cannot be changed" in response.text


def _zone(client: Any) -> str:
    zone = client("route53").create_hosted_zone(Name=f"z{os.urandom(3).hex()}.example.", CallerReference=os.urandom(4).hex())
    return zone["HostedZone"]["Id"]


@pytest.mark.parametrize("record,fragment,code", [
    ({"Weight": 300, "SetIdentifier": "a"}, "weight must be between 0 and 255, got 300", "InvalidInput"),
    ({"Weight": 10}, "needs a SetIdentifier", "InvalidChangeBatch"),
    ({"Failover": "TERTIARY", "SetIdentifier": "a"}, "PRIMARY or SECONDARY", "InvalidInput"),
    ({"Weight": 1, "Region": "us-east-1", "SetIdentifier": "a"}, "only one routing policy", "InvalidChangeBatch"),
    ({"GeoLocation": {"CountryCode": "DE", "SubdivisionCode": "HE"}, "SetIdentifier": "a"}, "needs CountryCode US", "InvalidChangeBatch"),
])
def test_record_rules(client: Any, record: dict[str, Any], fragment: str, code: str) -> None:
    zone_id = _zone(client)
    rrset = {"Name": "www." + client("route53").get_hosted_zone(Id=zone_id)["HostedZone"]["Name"], "Type": "A", "TTL": 60,
             "ResourceRecords": [{"Value": "127.16.1.10"}], **record}
    response = _error(client("route53").change_resource_record_sets, HostedZoneId=zone_id,
                      ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})
    assert response["Error"]["Code"] == code
    assert fragment in response["Error"]["Message"]


def _db(client: Any, identifier: str, multi_az: bool) -> None:
    client("rds").create_db_instance(DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass="db.t3.micro",
                                     AllocatedStorage=20, MasterUsername="u", MasterUserPassword="p" * 12, MultiAZ=multi_az)


def test_force_failover_needs_multi_az(client: Any) -> None:
    _db(client, "single", multi_az=False)
    response = _error(client("rds").reboot_db_instance, DBInstanceIdentifier="single", ForceFailover=True)
    assert response["Error"]["Code"] == "InvalidParameterCombination"
    assert "not a Multi-AZ instance" in response["Error"]["Message"]


def test_reboot_needs_available(client: Any) -> None:
    _db(client, "stopped", multi_az=True)
    client("rds").stop_db_instance(DBInstanceIdentifier="stopped")
    response = _error(client("rds").reboot_db_instance, DBInstanceIdentifier="stopped", ForceFailover=True)
    assert response["Error"]["Code"] == "InvalidDBInstanceState"
    assert "'stopped'" in response["Error"]["Message"]


def test_unknown_db_instance(client: Any) -> None:
    response = _error(client("rds").reboot_db_instance, DBInstanceIdentifier="nope", ForceFailover=True)
    assert response["Error"]["Code"] == "DBInstanceNotFound"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_duplicate_db_instance(client: Any) -> None:
    _db(client, "twice", multi_az=False)
    response = _error(_db, client=client, identifier="twice", multi_az=False)
    assert response["Error"]["Code"] == "DBInstanceAlreadyExists"


def _subnet_association(client: Any) -> tuple[Any, str, str]:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.16.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    acl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
    association = next(a["NetworkAclAssociationId"] for a in acl["Associations"] if a["SubnetId"] == subnet)
    return ec2, subnet, association


def test_unknown_association_is_an_aws_error(client: Any) -> None:
    ec2, _, _ = _subnet_association(client)
    response = _error(ec2.replace_network_acl_association, AssociationId="aclassoc-00000000", NetworkAclId="acl-00000000")
    assert response["Error"]["Code"] == "InvalidAssociationID.NotFound"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_acl_leaves_the_association_alone(client: Any) -> None:
    ec2, subnet, association = _subnet_association(client)
    response = _error(ec2.replace_network_acl_association, AssociationId=association, NetworkAclId="acl-00000000")
    assert response["Error"]["Code"] == "InvalidNetworkAclID.NotFound"
    still = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
    assert [a["NetworkAclAssociationId"] for a in still[0]["Associations"] if a["SubnetId"] == subnet] == [association]


@pytest.mark.parametrize("rule,fragment", [(0, "1 to 32766"), (32767, "1 to 32766")])
def test_nacl_rule_number_range(client: Any, rule: int, fragment: str) -> None:
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.16.0.0/16")["Vpc"]["VpcId"]
    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    response = _error(ec2.create_network_acl_entry, NetworkAclId=acl, RuleNumber=rule, Protocol="-1", RuleAction="deny",
                      Egress=False, CidrBlock="0.0.0.0/0")
    assert response["Error"]["Code"] == "InvalidParameterValue" and fragment in response["Error"]["Message"]


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.changes: list[Any] = []

    def answers(self) -> dict[Any, Any]:
        return {}

    def on_change(self, change: Any) -> None:
        self.changes.append(change)


def test_notify_after_successful_changes_only(endpoint: Any, client: Any) -> None:
    recorder = Recorder()
    plane = endpoint._server.app  # the ControlPlane itself
    plane.attach(recorder)
    try:
        route53 = client("route53")
        route53.create_health_check(CallerReference="n1", HealthCheckConfig=_http_check())
        route53.list_health_checks()
        with pytest.raises(ClientError):
            route53.create_health_check(CallerReference="n2", HealthCheckConfig=_http_check(RequestInterval=20))
    finally:
        plane.parts.pop("recorder")
    assert [(c.request.service, c.request.operation) for c in recorder.changes] == [("route53", "CreateHealthCheck")]
    assert json.loads(json.dumps(recorder.changes[0].request.params["HealthCheckConfig"]))["Port"] == "8080"


def test_update_keeps_the_checker_regions(client: Any) -> None:
    route53 = client("route53")
    regions = ["us-east-1", "eu-west-1", "ap-southeast-1"]
    check_id = route53.create_health_check(CallerReference="regions", HealthCheckConfig=_http_check(Regions=regions))["HealthCheck"]["Id"]
    route53.update_health_check(HealthCheckId=check_id, Inverted=True)
    assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Regions"] == regions


def test_update_returns_the_new_version(client: Any) -> None:
    route53 = client("route53")
    check_id = route53.create_health_check(CallerReference="newver", HealthCheckConfig=_http_check())["HealthCheck"]["Id"]
    updated = route53.update_health_check(HealthCheckId=check_id, HealthCheckVersion=1, Inverted=True)
    assert updated["HealthCheck"]["HealthCheckVersion"] == 2
