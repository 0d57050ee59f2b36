"""OTLP/HTTP trace export requests, turned into X-Ray segment documents as X-Ray's OTLP ingestion does.

An ``ExportTraceServiceRequest`` arrives as protobuf (``application/x-protobuf``) or as OTLP's JSON
mapping (``application/json``: ids in hex, enums as numbers). Each span becomes one document:

- a SERVER or CONSUMER span, or a span without a parent, is a *segment* named after its resource's
  ``service.name`` (X-Ray's node), with its HTTP request and response, and its EC2 instance;
- any other span is an independent *subsegment* of its parent span. A database client span is a
  ``remote`` subsegment named ``<db.namespace>@<server.address>`` with an ``sql`` block, an AWS SDK
  call (``rpc.system`` ``aws-api``) an ``aws`` one named after its table (or service), and a client
  span with ``peer.service`` a ``remote`` one named after it: those are the service graph's edges.

The trace id is the span's 32 hex digits written ``1-<8>-<24>`` (X-Ray ids made by the SDK's
``AwsXRayIdGenerator`` start with the epoch second, so the time is right). A 5xx answer, or a span
with status ERROR and no HTTP status, is a fault; a 4xx an error; a 429 also a throttle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_SEGMENT_KINDS = (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER)
_STATUS_ERROR = Status.STATUS_CODE_ERROR


class MalformedPayload(Exception):
    """The body is not an OTLP trace export request in the content type it claims."""


@dataclass(frozen=True)
class Converted:
    """One span as an X-Ray document, and the Region its resource says it ran in (None: unknown)."""

    region: str | None
    document: dict[str, Any]


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse the request body. Raises MalformedPayload naming the content type and what went wrong."""
    kind = content_type.split(";")[0].strip().lower()
    message = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as error:
            raise MalformedPayload(f"the body is not a protobuf ExportTraceServiceRequest: {error}") from None
    elif kind == JSON:
        try:
            json_format.Parse(_hex_ids_to_base64(body), message)
        except (json_format.ParseError, ValueError, TypeError, AttributeError) as error:
            raise MalformedPayload(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {error}") from None
    else:
        raise MalformedPayload(f"Content-Type {content_type or '(none)'!r} is not {PROTOBUF} or {JSON}")
    return message


def _hex_ids_to_base64(body: bytes) -> bytes:
    """OTLP/JSON writes trace and span ids in hex; protobuf's JSON mapping reads bytes as base64."""
    import base64
    import json

    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the top level must be a JSON object with resourceSpans")
    for resource_spans in document.get("resourceSpans") or ():
        for scope_spans in (resource_spans or {}).get("scopeSpans") or ():
            for span in (scope_spans or {}).get("spans") or ():
                for key in ("traceId", "spanId", "parentSpanId"):
                    value = span.get(key) if isinstance(span, dict) else None
                    if isinstance(value, str) and value:
                        try:
                            span[key] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            raise ValueError(f"span {key} {value!r} is not hexadecimal") from None
    return json.dumps(document).encode()


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    if field == "array_value":
        return [_value(v) for v in value.array_value.values]
    if field == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if field == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, field) if field else None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def xray_trace_id(raw: bytes) -> str:
    digits = raw.hex()
    return f"1-{digits[:8]}-{digits[8:]}"


def convert(message: ExportTraceServiceRequest) -> list[Converted]:
    """Every span of the request as an X-Ray document (see the module docstring)."""
    out: list[Converted] = []
    for resource_spans in message.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or "unknown_service")
        region = resource.get("cloud.region")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(Converted(str(region) if region else None, _document(span, service, resource)))
    return out


def _document(span: Span, service: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise MalformedPayload(f"span {span.name!r}: trace id must be 16 bytes and span id 8 "
                               f"(got {len(span.trace_id)} and {len(span.span_id)})")
    attributes = _attributes(span.attributes)
    start_s = span.start_time_unix_nano / 1e9
    body: dict[str, Any] = {
        "trace_id": xray_trace_id(span.trace_id), "id": span.span_id.hex(), "start_time": start_s,
        "end_time": max(start_s, span.end_time_unix_nano / 1e9),
        "metadata": {"default": {"otel.span.name": span.name, "otel.span.kind": Span.SpanKind.Name(span.kind),
                                 **attributes}},
    }
    if span.parent_span_id:
        body["parent_id"] = span.parent_span_id.hex()
    status = attributes.get("http.response.status_code")
    failed = span.status.code == _STATUS_ERROR
    if span.kind in _SEGMENT_KINDS or not span.parent_span_id:
        body["name"] = service
        if resource.get("cloud.platform") == "aws_ec2":
            body["origin"] = "AWS::EC2::Instance"
            body["aws"] = {"ec2": {"instance_id": resource.get("host.id"),
                                   "availability_zone": resource.get("cloud.availability_zone")}}
    else:
        body["type"] = "subsegment"
        body["name"] = span.name
        _remote(body, span, attributes)
    if "http.request.method" in attributes or status is not None:
        http: dict[str, Any] = {"request": {"method": attributes.get("http.request.method"),
                                            "url": attributes.get("url.full") or attributes.get("url.path")}}
        if status is not None:
            http["response"] = {"status": int(status)}
        body["http"] = http
    if isinstance(status, int) and status >= 500 or failed and not isinstance(status, int):
        body["fault"] = True
    elif isinstance(status, int) and 400 <= status < 500:
        body["error"] = True
        if status == 429:
            body["throttle"] = True
    if failed and span.status.message:
        body["cause"] = {"exceptions": [{"message": span.status.message}]}
    return body


def _remote(body: dict[str, Any], span: Span, attributes: Mapping[str, Any]) -> None:
    """Mark a client span as a call to another node, named as X-Ray's service graph names it."""
    if span.kind != Span.SPAN_KIND_CLIENT:
        return
    system = attributes.get("db.system.name") or attributes.get("db.system")
    if attributes.get("rpc.system") == "aws-api":
        tables = attributes.get("aws.dynamodb.table_names") or ()
        table = tables[0] if isinstance(tables, list) and tables else None
        body["namespace"] = "aws"
        body["name"] = str(table or attributes.get("rpc.service") or span.name)
        body["aws"] = {"operation": attributes.get("rpc.method"), "table_name": table,
                       "region": attributes.get("cloud.region")}
    elif system:
        database = attributes.get("db.namespace") or attributes.get("db.name") or system
        host = attributes.get("server.address") or "localhost"
        body["namespace"] = "remote"
        body["name"] = f"{database}@{host}"
        body["sql"] = {"database_type": str(system), "url": f"{host}:{attributes.get('server.port', '')}",
                       "sanitized_query": span.name}
    elif attributes.get("peer.service"):
        body["namespace"] = "remote"
        body["name"] = str(attributes["peer.service"])
