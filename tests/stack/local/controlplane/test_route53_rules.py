"""Route 53 health-check endpoints and record values AWS refuses are refused, and nothing is stored."""
from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stack.local.endpoint import AwsEndpoint
from tests.stack.local.controlplane.conftest import signed


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response


@pytest.mark.parametrize("address,fragment", [
    ("0.0.0.0", "non-routable"), ("192.0.2.1", "non-routable"), ("10.1.2.3", "non-routable"),
    ("224.0.0.5", "non-routable"), ("100.64.0.1", "non-routable"), ("fe80::1", "non-routable"),
    ("abc", "'abc' is not an IPv4 or IPv6 address"), ("300.1.1.1", "is not an IPv4 or IPv6 address"),
])
def test_health_check_address(edge_client: Any, address: str, fragment: str) -> None:
    route53 = edge_client("route53")
    before = len(route53.list_health_checks()["HealthChecks"])
    response = _error(route53.create_health_check, CallerReference=os.urandom(4).hex(),
                      HealthCheckConfig={"Type": "TCP", "IPAddress": address, "Port": 80})
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidInput", 400)
    assert fragment in response["Error"]["Message"]
    assert len(route53.list_health_checks()["HealthChecks"]) == before


@pytest.mark.parametrize("port", [65536, 70000])
def test_health_check_port(edge_client: Any, port: int) -> None:
    response = _error(edge_client("route53").create_health_check, CallerReference=os.urandom(4).hex(),
                      HealthCheckConfig={"Type": "TCP", "IPAddress": "127.16.1.10", "Port": port})
    assert response["Error"]["Code"] == "InvalidInput" and f"Port must be between 1 and 65535, got {port}" in response["Error"]["Message"]


def test_update_cannot_set_a_bad_port(edge_client: Any) -> None:
    route53 = edge_client("route53")
    check = route53.create_health_check(CallerReference=os.urandom(4).hex(),
                                        HealthCheckConfig={"Type": "TCP", "IPAddress": "127.16.1.10", "Port": 80})["HealthCheck"]
    response = _error(route53.update_health_check, HealthCheckId=check["Id"], Port=70000)
    assert response["Error"]["Code"] == "InvalidInput"
    assert route53.get_health_check(HealthCheckId=check["Id"])["HealthCheck"]["HealthCheckConfig"]["Port"] == 80


@pytest.fixture
def zone(edge_client: Any) -> tuple[Any, str, str]:
    route53 = edge_client("route53")
    name = f"z{os.urandom(3).hex()}.example."
    return route53, route53.create_hosted_zone(Name=name, CallerReference=os.urandom(4).hex())["HostedZone"]["Id"], name


def _types(route53: Any, zone_id: str) -> list[tuple[str, str]]:
    return [(r["Name"], r["Type"]) for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]]


@pytest.mark.parametrize("label,kind,value,fragment", [
    ("", "CNAME", "elsewhere.example.", "is not permitted at apex in zone"),
    ("www.", "A", "not-an-ip", "ARRDATAIllegalIPv4Address"),
    ("www.", "A", "2001:db8::1", "ARRDATAIllegalIPv4Address"),
    ("www.", "AAAA", "127.16.1.10", "AAAARDATAIllegalIPv6Address"),
])
def test_bad_record_is_refused(zone: tuple[Any, str, str], label: str, kind: str, value: str, fragment: str) -> None:
    route53, zone_id, name = zone
    before = _types(route53, zone_id)
    rrset = {"Name": label + name, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": value}]}
    response = _error(route53.change_resource_record_sets, HostedZoneId=zone_id,
                      ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidChangeBatch", 400)
    assert fragment in response["Error"]["Message"]
    assert _types(route53, zone_id) == before


def test_cname_below_the_apex_is_fine(zone: tuple[Any, str, str]) -> None:
    route53, zone_id, name = zone
    rrset = {"Name": "www." + name, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "elsewhere.example."}]}
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})
    assert ("www." + name, "CNAME") in _types(route53, zone_id)


def test_empty_changes(edge: AwsEndpoint, zone: tuple[Any, str, str]) -> None:
    # botocore refuses an empty list on the client side; any other client can send one.
    _, zone_id, _ = zone
    body = (b'<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
            b"<ChangeBatch><Changes></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>")
    response = signed(edge, "route53", "POST", f"/2013-04-01{zone_id}/rrset", body)
    assert response.status_code == 400
    assert "<Code>InvalidInput</Code>" in response.text and "at least 1 Change" in response.text
