"""Traces made with the OpenTelemetry SDK (X-Ray ids) and exported by OTLP/HTTP, as checkout makes them."""
from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from stack.local.ec2.checkout.tracing import db_attributes

ENDPOINT = "orders.test.us-east-1.rds.amazonaws.com"
DB_NODE = f"postgres@{ENDPOINT}"


class Tracer:
    """Spans of one checkout instance, each exported as soon as it ends."""

    def __init__(self, url: str, region: str = "us-east-1", instance_id: str = "i-0123456789abcdef0") -> None:
        resource = Resource.create({"service.name": "checkout", "cloud.provider": "aws", "cloud.platform": "aws_ec2",
                                    "cloud.region": region, "cloud.availability_zone": f"{region}a",
                                    "host.id": instance_id})
        self.provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
        self.provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=5)))
        self.tracer = self.provider.get_tracer("test")

    def close(self) -> None:
        self.provider.shutdown()

    def checkout(self, dns_s: float = 0.0, connect_s: float = 0.0, query_s: float = 0.002, status: int = 201,
                 query_fails: bool = False) -> str:
        """One POST /orders: its DNS query, connect and INSERT, laid end to end from now. Returns the X-Ray id."""
        at = time.time_ns()

        def ns(seconds: float) -> int:
            return int(seconds * 1e9)

        server = self.tracer.start_span("POST /orders", kind=SpanKind.SERVER, start_time=at,
                                        attributes={"http.request.method": "POST", "url.path": "/orders"})
        context = trace.set_span_in_context(server)
        cursor = at + ns(0.0005)
        children: list[tuple[str, SpanKind, float, dict[str, Any], bool]] = []
        if dns_s:
            children.append(("dns.resolve", SpanKind.INTERNAL, dns_s, {"dns.question.name": ENDPOINT}, False))
        if connect_s:
            children.append(("connect", SpanKind.CLIENT, connect_s, db_attributes(ENDPOINT, 5432, "postgres"), False))
        children.append(("INSERT orders", SpanKind.CLIENT, query_s, db_attributes(ENDPOINT, 5432, "postgres"),
                         query_fails))
        for name, kind, seconds, attributes, fails in children:
            child = self.tracer.start_span(name, context=context, kind=kind, start_time=cursor, attributes=attributes)
            if fails:
                child.set_status(Status(StatusCode.ERROR, "connection reset"))
            cursor += ns(seconds)
            child.end(end_time=cursor)
        server.set_attribute("http.response.status_code", status)
        if status >= 500:
            server.set_status(Status(StatusCode.ERROR))
        server.end(end_time=cursor + ns(0.0005))
        return _xray(server.get_span_context().trace_id)


def _xray(trace_id: int) -> str:
    digits = f"{trace_id:032x}"
    return f"1-{digits[:8]}-{digits[8:]}"
