"""The xray part at the endpoint: OTLP/HTTP in (protobuf and JSON), X-Ray's queries out, bad input refused."""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import Stack
from .spans import DB_NODE, Tracer


@pytest.fixture
def tracer(stack: Stack) -> Iterator[Tracer]:
    made = Tracer(stack.url)
    try:
        yield made
    finally:
        made.close()


def window() -> dict[str, float]:
    now = time.time()
    return {"StartTime": now - 60, "EndTime": now + 60}


def ids(xray: Any, expression: str | None = None, **extra: Any) -> set[str]:
    params: dict[str, Any] = {**window(), **extra}
    if expression is not None:
        params["FilterExpression"] = expression
    found = set()
    for page in xray().get_paginator("get_trace_summaries").paginate(**params):
        found |= {s["Id"] for s in page["TraceSummaries"]}
    return found


def test_otlp_spans_become_traces_that_filters_find(tracer: Tracer, xray: Callable[..., Any]) -> None:
    slow = tracer.checkout(dns_s=0.4, connect_s=0.3)
    fast = tracer.checkout()
    failed = tracer.checkout(status=503, query_fails=True)
    refused = tracer.checkout(status=429)
    mine = {slow, fast, failed, refused}
    assert mine <= ids(xray)
    assert ids(xray, "responsetime > 0.5") & mine == {slow}
    assert ids(xray, "responsetime <= 0.5 AND !fault AND !error") & mine == {fast}
    assert ids(xray, "fault") & mine == {failed}
    assert ids(xray, "error") & mine == {refused}
    assert ids(xray, "throttle = true OR http.status = 503") & mine == {failed, refused}
    assert ids(xray, f'service("{DB_NODE}")') & mine == mine
    assert ids(xray, 'service("nosuch")') & mine == set()
    summary = next(s for s in xray().get_trace_summaries(**window(), FilterExpression="responsetime > 0.5")["TraceSummaries"]
                   if s["Id"] == slow)
    assert summary["EntryPoint"]["Name"] == "checkout"
    assert summary["Http"]["HttpStatus"] == 201 and summary["Http"]["HttpMethod"] == "POST"
    assert summary["InstanceIds"] == [{"Id": "i-0123456789abcdef0"}]


def test_batch_get_traces_nests_the_spans(tracer: Tracer, xray: Callable[..., Any]) -> None:
    trace_id = tracer.checkout(dns_s=0.05, connect_s=0.02)
    answer = xray().batch_get_traces(TraceIds=[trace_id, "1-00000000-000000000000000000000000"])
    assert answer["UnprocessedTraceIds"] == ["1-00000000-000000000000000000000000"]
    (found,) = answer["Traces"]
    (segment,) = [json.loads(s["Document"]) for s in found["Segments"]]
    assert segment["name"] == "checkout" and segment["origin"] == "AWS::EC2::Instance"
    names = [s["name"] for s in segment["subsegments"]]
    assert names == ["dns.resolve", DB_NODE, DB_NODE]
    assert [s.get("namespace") for s in segment["subsegments"]] == [None, "remote", "remote"]
    assert [s["sql"]["sanitized_query"] for s in segment["subsegments"][1:]] == ["connect", "INSERT orders"]


def test_service_graph_has_the_database_edge(tracer: Tracer, xray: Callable[..., Any]) -> None:
    tracer.checkout(status=503, query_fails=True)
    services = {s["Name"]: s for s in xray().get_service_graph(**window())["Services"]}
    checkout, database, client = services["checkout"], services[DB_NODE], services["client"]
    assert client["Root"] and [e["ReferenceId"] for e in client["Edges"]] == [checkout["ReferenceId"]]
    (edge,) = checkout["Edges"]
    assert edge["ReferenceId"] == database["ReferenceId"]
    assert database["Type"] == "Database::SQL"
    assert edge["SummaryStatistics"]["FaultStatistics"]["TotalCount"] >= 1
    assert checkout["SummaryStatistics"]["TotalCount"] >= 1


def test_unsupported_or_broken_filters_are_invalid_requests(xray: Callable[..., Any]) -> None:
    for expression, named in [("annotation.account = \"1\"", "annotation.account"), ("responsetime >", "number"),
                              ('service("a") AND (fault', "')'"), ("responsetime > 1 junk", "junk")]:
        with pytest.raises(ClientError) as raised:
            xray().get_trace_summaries(**window(), FilterExpression=expression)
        error = raised.value.response["Error"]
        assert error["Code"] == "InvalidRequestException", error
        assert named in error["Message"] and "served" in error["Message"]


def test_malformed_otlp_is_a_400_and_the_receiver_keeps_running(stack: Stack, tracer: Tracer,
                                                                xray: Callable[..., Any]) -> None:
    url = f"{stack.url}/v1/traces"
    broken = requests.post(url, data=b"\xff\x00not protobuf", headers={"Content-Type": "application/x-protobuf"},
                           timeout=10)
    assert broken.status_code == 400
    as_json = requests.post(url, data=b"{\"resourceSpans\": 7}", headers={"Content-Type": "application/json"}, timeout=10)
    assert as_json.status_code == 400 and "ExportTraceServiceRequest" in as_json.json()["message"]
    wrong_type = requests.post(url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert wrong_type.status_code == 400 and "text/plain" in wrong_type.json()["message"]
    assert tracer.checkout() in ids(xray)  # still receiving


def test_otlp_json_is_received(stack: Stack, xray: Callable[..., Any]) -> None:
    now = time.time_ns()
    trace_hex = f"{int(time.time()):08x}" + "ab" * 12
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "cloud.region", "value": {"stringValue": "us-west-2"}}]},
        "scopeSpans": [{"spans": [{"traceId": trace_hex, "spanId": "00f067aa0ba902b7", "name": "GET /products",
                                   "kind": 2, "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 2_000_000),
                                   "attributes": [{"key": "http.response.status_code", "value": {"intValue": "200"}}]}]}]}]}
    answer = requests.post(f"{stack.url}/v1/traces", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    trace_id = f"1-{trace_hex[:8]}-{trace_hex[8:]}"
    assert trace_id in ids(lambda: xray("us-west-2"))  # the Region its resource names
    assert trace_id not in ids(xray)


def test_put_trace_segments_accepts_documents_and_reports_bad_ones(xray: Callable[..., Any]) -> None:
    now = time.time()
    trace_id = f"1-{int(now):08x}-{'cd' * 12}"
    good = {"name": "warehouse", "id": "70de5b6f19ff9a0a", "trace_id": trace_id, "start_time": now,
            "end_time": now + 1.5, "fault": True}
    answer = xray().put_trace_segments(TraceSegmentDocuments=[json.dumps(good), "{not json", json.dumps(
        {"name": "x", "id": "70de5b6f19ff9a0b", "trace_id": "1-nothex-1", "start_time": now, "end_time": now})])
    codes = [u["ErrorCode"] for u in answer["UnprocessedTraceSegments"]]
    assert codes == ["JSONFormatError", "InvalidTraceId"]
    assert trace_id in ids(xray, 'service("warehouse") AND fault AND responsetime >= 1.5')


def test_summaries_page_through_every_match_once(xray: Callable[..., Any]) -> None:
    now = time.time()
    made, documents = [], []
    for number in range(250):
        trace_id = f"1-{int(now):08x}-{number:024x}"
        made.append(trace_id)
        documents.append(json.dumps({"name": "pager", "id": f"{number:016x}", "trace_id": trace_id,
                                     "start_time": now, "end_time": now + (0.2 if number % 2 else 0.01)}))
    for first in range(0, len(documents), 50):
        assert not xray().put_trace_segments(TraceSegmentDocuments=documents[first:first + 50])["UnprocessedTraceSegments"]
    pages = list(xray().get_paginator("get_trace_summaries").paginate(
        **window(), FilterExpression='service("pager") AND responsetime > 0.1'))
    found = [s["Id"] for page in pages for s in page["TraceSummaries"]]
    assert len(pages) >= 2 and sorted(found) == sorted(made[1::2])
    with pytest.raises(ClientError) as raised:
        xray().get_trace_summaries(**window(), NextToken="bm90IGEgdG9rZW4=")
    assert raised.value.response["Error"]["Code"] == "InvalidRequestException"


def test_a_traced_dynamodb_read_is_an_edge_to_its_table(tracer: Tracer, xray: Callable[..., Any]) -> None:
    from opentelemetry import trace as otel
    from opentelemetry.trace import SpanKind

    from stack.local.ec2.checkout.tracing import aws_attributes

    with tracer.tracer.start_as_current_span("GET /products/{sku}", kind=SpanKind.SERVER) as server:
        with tracer.tracer.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT,
                                                 attributes=aws_attributes("DynamoDB", "GetItem", "us-east-1", "catalog")):
            pass
    digits = f"{server.get_span_context().trace_id:032x}"
    assert otel.get_current_span() is not server
    assert f"1-{digits[:8]}-{digits[8:]}" in ids(xray, 'service("catalog")')
    services = {s["Name"]: s for s in xray().get_service_graph(**window())["Services"]}
    assert services["catalog"]["Type"] == "AWS::DynamoDB::Table"
    assert services["catalog"]["ReferenceId"] in [e["ReferenceId"] for e in services["checkout"]["Edges"]]
