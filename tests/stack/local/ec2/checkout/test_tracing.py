"""A real checkout process traced: its spans reach the xray part by OTLP/HTTP as X-Ray segments."""
from __future__ import annotations

import json
import time
from typing import Any

from base.deadline import until
from stack.local.ec2 import unixhttp
from tests.stack.local.xray.conftest import Stack, stack  # noqa: F401 - the fixture, shared

from ..nameserver import Nameserver
from ..rig import ENDPOINT, Rig

CALLER = "Root=1-{:08x}-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


def traces(xray_stack: Stack, expression: str) -> list[dict[str, Any]]:
    now = time.time()
    found: list[dict[str, Any]] = xray_stack.client().get_trace_summaries(
        StartTime=now - 120, EndTime=now + 60, FilterExpression=expression)["TraceSummaries"]
    return found


def test_an_order_is_one_trace_with_dns_connect_and_insert(rig: Rig, nameserver: Nameserver,
                                                           stack: Stack) -> None:  # noqa: F811
    checkout = rig.start_checkout(nameserver, otlp_endpoint=f"{stack.url}/v1/traces")
    trace_id = CALLER.format(int(time.time())).split(";")[0].removeprefix("Root=")
    connection = unixhttp.UnixHTTPConnection(checkout.launch.uds, timeout_s=15)
    try:
        connection.request("POST", "/orders", body=json.dumps({"sku": "SC-TEE-001", "quantity": 1}),
                           headers={"Content-Type": "application/json", "X-Amzn-Trace-Id": CALLER.format(int(time.time()))})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 201
    assert trace_id in (response.getheader("x-amzn-trace-id") or "")  # the caller's trace continues
    database = f"postgres@{ENDPOINT}"
    until(lambda: any(t["Id"] == trace_id for t in traces(stack, f'service("{database}")')), 15,
          f"trace {trace_id} through {database} at the xray part", 0.1)
    (found,) = stack.client().batch_get_traces(TraceIds=[trace_id])["Traces"]
    (segment,) = [json.loads(s["Document"]) for s in found["Segments"]]
    assert segment["name"] == "checkout" and segment["parent_id"] == "53995c3f42cd8ad8"
    assert segment["http"]["response"]["status"] == 201
    assert segment["aws"]["ec2"]["instance_id"] == checkout.launch.instance_id
    subsegments = [(s["name"], s.get("sql", {}).get("sanitized_query")) for s in segment["subsegments"]]
    assert subsegments == [("dns.resolve", None), (database, "connect"), (database, "INSERT orders")]


def test_tracing_switched_off_sends_nothing(rig: Rig, nameserver: Nameserver, stack: Stack,  # noqa: F811
                                            monkeypatch: Any) -> None:
    monkeypatch.setenv("GAMEDAY_TRACING", "off")
    checkout = rig.start_checkout(nameserver, otlp_endpoint=f"{stack.url}/v1/traces")
    reply = unixhttp.call(checkout.launch.uds, "POST", "/orders", {"sku": "SC-TEE-001", "quantity": 1}, timeout_s=15)
    assert reply.status == 201 and "x-amzn-trace-id" not in reply.headers



def test_the_shallow_health_check_makes_no_span(rig: Rig, nameserver: Nameserver, stack: Stack) -> None:  # noqa: F811
    """The default untraced URL: /health answers untraced, /health/deep (it reads the database) is traced."""
    checkout = rig.start_checkout(nameserver, otlp_endpoint=f"{stack.url}/v1/traces")
    shallow, deep = (CALLER.format(int(time.time())).replace("0123456789abcdef0123456", digit * 23, 1)
                     for digit in ("a", "b"))
    answers = {}
    for path, header in (("/health", shallow), ("/health/deep", deep)):  # the shallow one ends first
        connection = unixhttp.UnixHTTPConnection(checkout.launch.uds, timeout_s=15)
        try:
            connection.request("GET", path, headers={"X-Amzn-Trace-Id": header})
            response = connection.getresponse()
            response.read()
            answers[path] = (response.status, response.getheader("x-amzn-trace-id"))
        finally:
            connection.close()
    assert answers["/health"] == (200, None) and answers["/health/deep"][0] == 200
    ids = [header.split(";")[0].removeprefix("Root=") for header in (shallow, deep)]
    # Spans leave in the order they end: once the deep check's trace is in, a shallow one would be too.
    until(lambda: any(t["Id"] == ids[1] for t in traces(stack, 'service("checkout")')), 15,
          f"trace {ids[1]} of GET /health/deep at the xray part", 0.1)
    assert stack.client().batch_get_traces(TraceIds=[ids[0]])["Traces"] == []
