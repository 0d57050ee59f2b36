"""Route53Part end to end: boto3 against moto's server, the notify hook, the DNS server and real checks."""
from __future__ import annotations

import contextlib
import ipaddress
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from base.deadline import until
from stack.local.route53.errors import Route53Error

from .endpoint import TargetServer
from .stack import Stack, moto_server, running

ZONE = "securecart.example."


@pytest.fixture(scope="module")
def moto() -> Iterator[int]:
    with moto_server() as port:
        yield port
REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1")


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    until(predicate, timeout_s, what, interval_s=0.01)


def ask(stack: Stack, name: str, rtype: str = "A", vantage: str | None = None, tcp: bool = False) -> dns.message.Message:
    options = []
    if vantage is not None:
        subnet = ipaddress.ip_network(stack.environment.vantage_points[vantage].subnet)
        options.append(dns.edns.ECSOption(str(subnet.network_address), subnet.prefixlen))
    query = dns.message.make_query(name, rtype, use_edns=0, options=options)
    host, port = stack.part.dns_address
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=2)
    return dns.query.udp(query, host, port=port, timeout=2)


def addresses(reply: dns.message.Message) -> set[str]:
    return {rd.to_text() for rrset in reply.answer for rd in rrset}


def create_zone(stack: Stack) -> str:
    zone = stack.client.create_hosted_zone(Name=ZONE, CallerReference=str(uuid.uuid4()))
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def upsert(stack: Stack, zone_id: str, *records: dict[str, Any]) -> str:
    response = stack.client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": r} for r in records]})
    return str(response["ChangeInfo"]["Id"])


def region_address(stack: Stack, region: str) -> str:
    zone = stack.environment.regions[region].availability_zones[f"{region}a"]
    return str(ipaddress.ip_network(zone.subnet_cidr).network_address + 10)


@contextlib.contextmanager
def regional_endpoints(stack: Stack) -> Iterator[dict[str, TargetServer]]:
    endpoints = {r: TargetServer(host=region_address(stack, r)) for r in REGIONS}
    try:
        yield endpoints
    finally:
        for e in endpoints.values():
            e.kill()


THREE_CHECKERS = ("us-east-1", "eu-west-1", "ap-southeast-1")


def latency_stack(stack: Stack, endpoints: dict[str, TargetServer], threshold: int = 2,
                  checker_regions: tuple[str, ...] = ()) -> dict[str, str]:
    zone_id = create_zone(stack)
    checks = {}
    for region, endpoint in endpoints.items():
        config: dict[str, Any] = {"Type": "HTTP", "IPAddress": endpoint.host, "Port": endpoint.port,
                                  "ResourcePath": "/health", "RequestInterval": 10, "FailureThreshold": threshold}
        if checker_regions:
            config["Regions"] = list(checker_regions)
        check = stack.client.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig=config)
        checks[region] = check["HealthCheck"]["Id"]
    upsert(stack, zone_id, *[
        {"Name": f"checkout.{ZONE}", "Type": "A", "TTL": 60, "SetIdentifier": region, "Region": region,
         "HealthCheckId": checks[region], "ResourceRecords": [{"Value": endpoint.host}]}
        for region, endpoint in endpoints.items()])
    assert stack.part.wait_in_sync(5), "the part served every change"
    return checks


def test_serves_hosted_zones_and_reports_status(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        zone_id = create_zone(stack)
        upsert(stack, zone_id, {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "127.16.1.5"}]})
        assert stack.part.wait_in_sync(5)
        assert addresses(ask(stack, f"www.{ZONE}")) == {"127.16.1.5"}
        soa = ask(stack, ZONE, "SOA")
        assert soa.rcode() == dns.rcode.NOERROR and soa.answer
        assert ask(stack, f"nope.{ZONE}").rcode() == dns.rcode.NXDOMAIN
        status = stack.part.status()
        assert status["zones"] == [ZONE]
        assert status["dns"] == "%s:%d" % stack.part.dns_address
        assert stack.part.dns_address[0] == stack.instance.control_host


def test_get_change_pending_until_served_then_insync(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        zone_id = create_zone(stack)
        assert stack.part.wait_in_sync(5)
        # Hold the part's next read of the zone, so the change is stored but not yet served.
        release = threading.Event()
        holding = threading.Event()

        def hold(**_: Any) -> None:
            holding.set()
            release.wait(10)
        stack.part.client.meta.events.register("before-call.route53.ListResourceRecordSets", hold)
        try:
            change_id = upsert(stack, zone_id, {"Name": f"new.{ZONE}", "Type": "A", "TTL": 60,
                                                "ResourceRecords": [{"Value": "127.16.1.6"}]})
            path = f"/2013-04-01/change/{change_id.rsplit('/', 1)[-1]}"
            assert holding.wait(5), "the part started reading the changed zone"
            assert stack.answer("GetChange", path)["ChangeInfo"]["Status"] == "PENDING"
            assert ask(stack, f"new.{ZONE}").rcode() == dns.rcode.NXDOMAIN
        finally:
            release.set()
        assert stack.part.wait_in_sync(5)
        assert stack.answer("GetChange", path)["ChangeInfo"]["Status"] == "INSYNC"
        assert addresses(ask(stack, f"new.{ZONE}")) == {"127.16.1.6"}


def test_record_change_rereads_only_its_zone(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        zone_id = create_zone(stack)
        assert stack.part.wait_in_sync(5)
        calls: list[str] = []
        stack.part.client.meta.events.register("before-call.route53", lambda model, **_: calls.append(model.name))
        upsert(stack, zone_id, {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "127.16.1.5"}]})
        assert stack.part.wait_in_sync(5)
        # The test's own upsert shares the context's cached client; only the part's reads matter here.
        assert [c for c in calls if c != "ChangeResourceRecordSets"] == ["ListResourceRecordSets"]
        assert addresses(ask(stack, f"www.{ZONE}")) == {"127.16.1.5"}


def test_change_is_served_within_one_scaled_second(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        zone_id = create_zone(stack)
        upsert(stack, zone_id, {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "127.16.1.5"}]})
        stack.part.wait_in_sync(5)
        upsert(stack, zone_id, {"Name": f"www.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "127.16.1.7"}]})
        wait_until(lambda: addresses(ask(stack, f"www.{ZONE}")) == {"127.16.1.7"}, "the new value to be served")


def test_inverting_frankfurts_region_moves_it_to_the_next_best_and_back(tmp_path: Path, moto: int) -> None:
    """The issue's "done when": Frankfurt gets eu-central-1; inverting its check moves it; reverting restores it."""
    with running(tmp_path, moto) as stack, regional_endpoints(stack) as endpoints:
        checks = latency_stack(stack, endpoints)
        eu, us = endpoints["eu-central-1"].host, endpoints["us-east-1"].host
        assert addresses(ask(stack, f"checkout.{ZONE}", vantage="frankfurt")) == {eu}
        assert addresses(ask(stack, f"checkout.{ZONE}", vantage="singapore")) == {endpoints["ap-southeast-1"].host}
        stack.client.update_health_check(HealthCheckId=checks["eu-central-1"], Inverted=True)
        wait_until(lambda: addresses(ask(stack, f"checkout.{ZONE}", vantage="frankfurt")) == {us},
                   "Frankfurt's answer to move to us-east-1")
        # No Regions given: every checker Region of the environment reports.
        checker_regions = set(stack.environment.health_checker_regions)
        wait_until(lambda: len(stack.answer("GetHealthCheckStatus",
                                            f"/2013-04-01/healthcheck/{checks['eu-central-1']}/status")
                               ["HealthCheckObservations"]) == len(checker_regions), "observations from every checker")
        observed = stack.answer("GetHealthCheckStatus", f"/2013-04-01/healthcheck/{checks['eu-central-1']}/status")
        assert {o["Region"] for o in observed["HealthCheckObservations"]} == checker_regions
        assert all(o["StatusReport"]["Status"] == "Success: HTTP Status Code 200, OK"
                   for o in observed["HealthCheckObservations"]), "the endpoint is fine; Inverted is why"
        stack.client.update_health_check(HealthCheckId=checks["eu-central-1"], Inverted=False)
        wait_until(lambda: addresses(ask(stack, f"checkout.{ZONE}", vantage="frankfurt")) == {eu},
                   "Frankfurt's answer to come back")


def test_a_dead_endpoint_fails_over_and_comes_back(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto, time_scale=0.02) as stack, regional_endpoints(stack) as endpoints:
        checks = latency_stack(stack, endpoints, threshold=2, checker_regions=THREE_CHECKERS)
        eu = endpoints["eu-central-1"]
        wait_until(lambda: len(eu.sources()) == 3, "all three checkers to reach eu-central-1")
        eu.kill()
        wait_until(lambda: addresses(ask(stack, f"checkout.{ZONE}", vantage="frankfurt")) == {endpoints["us-east-1"].host},
                   "failover away from the dead eu-central-1")
        reasons = stack.answer("GetHealthCheckLastFailureReason",
                               f"/2013-04-01/healthcheck/{checks['eu-central-1']}/lastfailurereason")
        assert {o["Region"] for o in reasons["HealthCheckObservations"]} == set(THREE_CHECKERS)
        assert all("Connection refused" in o["StatusReport"]["Status"] for o in reasons["HealthCheckObservations"])
        assert all(ipaddress.ip_address(o["IPAddress"]) in ipaddress.ip_network("127.208.0.0/12")
                   for o in reasons["HealthCheckObservations"])
        eu.start()
        wait_until(lambda: addresses(ask(stack, f"checkout.{ZONE}", vantage="frankfurt")) == {eu.host},
                   "eu-central-1 back in the answer")


def test_unknown_and_calculated_checks_get_aws_errors(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        missing = stack.answer("GetHealthCheckStatus", "/2013-04-01/healthcheck/nope/status")
        assert missing["_status"] == 404 and missing["Error"]["Code"] == "NoSuchHealthCheck"
        child = stack.client.create_health_check(CallerReference="c", HealthCheckConfig={
            "Type": "TCP", "IPAddress": "127.16.1.99", "Port": 9, "RequestInterval": 10, "FailureThreshold": 1})
        calculated = stack.client.create_health_check(CallerReference="k", HealthCheckConfig={
            "Type": "CALCULATED", "HealthThreshold": 1, "ChildHealthChecks": [child["HealthCheck"]["Id"]]})
        calc_id = calculated["HealthCheck"]["Id"]
        reply = stack.answer("GetHealthCheckStatus", f"/2013-04-01/healthcheck/{calc_id}/status")
        assert reply["_status"] == 400 and reply["Error"]["Code"] == "InvalidInput"


def test_service_records_are_served_in_a_synthetic_zone(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        name = "orders.c9akciq32.us-east-1.rds.amazonaws.com"
        stack.part.set_service_record(name, "A", ["127.16.1.20"], ttl_s=5)
        reply = ask(stack, name)
        assert addresses(reply) == {"127.16.1.20"} and reply.answer[0].ttl == 1  # 5 s x 0.1, at least 1
        assert ask(stack, "other.c9akciq32.us-east-1.rds.amazonaws.com").rcode() == dns.rcode.NXDOMAIN
        assert ask(stack, "us-east-1.rds.amazonaws.com", "SOA").answer
        stack.part.set_service_record(name, "A", ["127.16.2.20"], ttl_s=5)  # the failover repoints it
        assert addresses(ask(stack, name, tcp=True)) == {"127.16.2.20"}
        assert stack.part.status()["service_zones"] == ["us-east-1.rds.amazonaws.com."]
        stack.part.remove_service_record(name)
        assert ask(stack, name).rcode() == dns.rcode.REFUSED


def test_stop_is_idempotent_and_frees_the_port(tmp_path: Path, moto: int) -> None:
    with running(tmp_path, moto) as stack:
        host, port = stack.part.dns_address
    stack.part.stop()
    with pytest.raises(Route53Error):
        _ = stack.part.dns_address
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))


def test_a_record_it_cannot_serve_makes_the_part_degraded_until_it_is_fixed(tmp_path: Path, moto: int) -> None:
    # Such a record used to be dropped with a log line only: the API showed it, DNS did not serve it.
    with running(tmp_path, moto) as stack:
        zone_id = create_zone(stack)
        assert stack.part.health().healthy
        upsert(stack, zone_id, {"Name": f"bad.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "not-an-ip"}]})
        assert stack.part.wait_in_sync(5)
        health = stack.part.health()
        assert health.state == "degraded" and len(health.reasons) == 1
        assert f"bad.{ZONE}" in health.reasons[0] and "not-an-ip" in health.reasons[0]
        upsert(stack, zone_id, {"Name": f"bad.{ZONE}", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "127.16.1.5"}]})
        assert stack.part.wait_in_sync(5)
        assert stack.part.health().healthy
