"""X-Ray on the session's local stack: an order through the fabric is a trace that boto3 (and `aws xray`) finds."""
from __future__ import annotations

import json
import time
from typing import Any

from base import net
from environments.model import LocalEnvironment
from probes import checkout
from stack.handles import ReferenceStack
from tests.stack.waiting import until


def test_an_order_is_a_checkout_trace_with_the_database_edge(stack: ReferenceStack, aws_client: Any,
                                                            environment: LocalEnvironment,
                                                            authoritative: tuple[str, int]) -> None:
    vantage = environment.vantage_points["virginia"]
    client = checkout.Client(checkout.Resolver(stack.names.checkout, *authoritative, vantage.subnet),
                             environment.stack.checkout_port, net.vantage_address(vantage.subnet), 2.0, 15.0)
    started = time.time()
    _, response = client.request("POST", "/orders", json={"sku": "SC-TEE-001", "quantity": 1})
    assert response.status_code == 201, response.text
    trace_id = response.headers["X-Amzn-Trace-Id"].split(";")[0].removeprefix("Root=")
    xray = aws_client("xray", response.headers["X-Region"])

    def listed() -> list[dict[str, Any]]:
        pages = xray.get_paginator("get_trace_summaries").paginate(
            StartTime=started - 1, EndTime=time.time() + 1, FilterExpression='service("checkout")')
        return [s for page in pages for s in page["TraceSummaries"] if s["Id"] == trace_id]

    (summary,) = until(listed, f"trace {trace_id} in GetTraceSummaries", timeout_s=20)
    assert summary["Http"]["HttpStatus"] == 201 and summary["Http"]["HttpURL"] == "/orders"
    database = next(s["Name"] for s in summary["ServiceIds"] if s["Type"] == "Database::SQL")
    assert database.endswith(stack.names.database.rstrip(".")), (database, stack.names.database)
    (trace,) = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
    (segment,) = [json.loads(s["Document"]) for s in trace["Segments"]]
    assert [s["sql"]["sanitized_query"] for s in segment["subsegments"] if "sql" in s][-1] == "INSERT orders"
    services = xray.get_service_graph(StartTime=started - 1, EndTime=time.time() + 1)["Services"]
    by_ref = {s["ReferenceId"]: s["Name"] for s in services}
    edges = {(s["Name"], by_ref[e["ReferenceId"]]) for s in services for e in s["Edges"]}
    assert ("checkout", database) in edges and ("client", "checkout") in edges
