"""Tracing the checkout service with OpenTelemetry, the way AWS recommends for X-Ray.

The SDK makes X-Ray trace ids (``AwsXRayIdGenerator``: the first 8 hex digits are the epoch second,
so X-Ray accepts them), reads and writes the ``X-Amzn-Trace-Id`` header (``AwsXRayPropagator``), and
exports finished spans in batches from a background thread over OTLP/HTTP (protobuf) to the stack's
``/v1/traces``: nothing is sent on the request's path.

Spans (named and attributed by OpenTelemetry's semantic conventions, so any backend reads them):
- the HTTP handler: a SERVER span per request (``TraceMiddleware``);
- ``dns.resolve``: a query for the database endpoint (cache hits make no span: no time is spent);
- ``connect``: opening a database connection (a CLIENT span to the database);
- one CLIENT span per database operation (``INSERT orders``, ``SELECT orders``);
- anything else through ``traced``/``span`` (the catalog read, for instance).

Tracing is off when the process has no OTLP endpoint or ``GAMEDAY_TRACING=off`` is set: the
tracer is then OpenTelemetry's no-op one, and every hook costs a function call.

A request whose URL matches one of the untraced patterns makes no span (OpenTelemetry's Python
instrumentations read the same comma-separated regular expressions from ``OTEL_PYTHON_EXCLUDED_URLS``).
By default that is the shallow ``/health``: Route 53 calls it from eight checker Regions per check, it
touches no dependency, and it was nineteen traces in twenty the stack kept.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, TypeVar

from opentelemetry import context as otel_context, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind as SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")
SWITCH = "GAMEDAY_TRACING"  # "off" disables tracing whatever the command line says
TRACER_NAME = "securecart.checkout"
SERVICE_NAME = "checkout"
TRACE_HEADER = "x-amzn-trace-id"
# Exported in the background every 0.5 s (OTel's default is 5 s: too slow for a scaled game day).
EXPORT_DELAY_MS = 500
EXPORT_BATCH = 512
EXPORT_TIMEOUT_S = 10.0  # OTel's default: a loaded endpoint must not cost the batch (the thread waits, not a request)
SWITCH_INTERVAL_S = 0.001
EXCLUDED_URLS_VARIABLE = "OTEL_PYTHON_EXCLUDED_URLS"
DEFAULT_UNTRACED = "/health$"

_tracer = trace.get_tracer(TRACER_NAME)


@dataclass(frozen=True)
class TracingSettings:
    """Where spans go (None: tracing off) and who this process is (the span resource)."""

    otlp_endpoint: str | None
    instance_id: str
    region: str
    availability_zone: str

    @property
    def enabled(self) -> bool:
        return self.otlp_endpoint is not None and os.environ.get(SWITCH, "on").lower() not in ("off", "0", "false")


def url_filter(patterns: str) -> re.Pattern[str] | None:
    """The untraced URLs' patterns as one expression (None when there are none). Raises re.error."""
    parts = [part.strip() for part in patterns.split(",") if part.strip()]
    return re.compile("|".join(f"(?:{part})" for part in parts)) if parts else None


def install(settings: TracingSettings) -> Callable[[], None]:
    """Set the process's tracer provider (X-Ray ids, OTLP batch export); returns the flush-and-stop call.

    When tracing is off nothing is installed and the returned call does nothing.
    """
    if not settings.enabled:
        return lambda: None
    # Imported here: a process with tracing off never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({
        "service.name": SERVICE_NAME, "cloud.provider": "aws", "cloud.platform": "aws_ec2",
        "cloud.region": settings.region, "cloud.availability_zone": settings.availability_zone,
        "host.id": settings.instance_id,
    })
    provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
    exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, timeout=EXPORT_TIMEOUT_S)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS,
                                                   max_export_batch_size=EXPORT_BATCH))
    trace.set_tracer_provider(provider)
    propagate.set_global_textmap(AwsXRayPropagator())
    # The exporter's thread encodes spans in Python while holding the GIL; at the default 5 ms switch
    # interval a request waiting for the GIL behind it would wait that long. 1 ms bounds the wait.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    global _tracer
    _tracer = provider.get_tracer(TRACER_NAME)
    return provider.shutdown


@contextlib.contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A span around the block; an exception leaving the block is recorded and marks it an error."""
    with _tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {})) as current:
        yield current


def traced(name: str, call: Callable[[], T], kind: SpanKind = SpanKind.CLIENT,
           attributes: Mapping[str, Any] | None = None) -> T:
    """``call()`` inside a span: the generic hook for any dependency (the catalog's DynamoDB read)."""
    with span(name, kind, attributes):
        return call()


def db_attributes(endpoint: str, port: int, database: str, peer_address: str | None = None) -> dict[str, Any]:
    """The semantic-convention attributes of a PostgreSQL client span."""
    found: dict[str, Any] = {"db.system.name": "postgresql", "db.namespace": database,
                             "server.address": endpoint, "server.port": port}
    if peer_address:
        found["network.peer.address"] = peer_address
    return found


def aws_attributes(service: str, operation: str, region: str, table: str | None = None) -> dict[str, Any]:
    """The semantic-convention attributes of an AWS SDK call's CLIENT span (a DynamoDB read of the catalog:
    ``traced("DynamoDB.GetItem", read, attributes=aws_attributes("DynamoDB", "GetItem", region, "catalog"))``);
    X-Ray shows it as an edge from checkout to the table."""
    found: dict[str, Any] = {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": operation,
                             "cloud.region": region}
    if table is not None:
        found["aws.dynamodb.table_names"] = [table]
    return found


def _trace_header(current: Span) -> str:
    """X-Amzn-Trace-Id for ``current`` (what AwsXRayPropagator writes, without its generic machinery)."""
    context = current.get_span_context()
    digits = f"{context.trace_id:032x}"
    sampled = 1 if context.trace_flags.sampled else 0
    return f"Root=1-{digits[:8]}-{digits[8:]};Parent={context.span_id:016x};Sampled={sampled}"


class _Headers(Getter[Mapping[str, str]]):
    """ASGI headers are lower-case; propagators ask for X-Amzn-Trace-Id."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return [value] if value is not None else None

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_HEADERS = _Headers()
_READ = frozenset({TRACE_HEADER.encode(), b"user-agent", b"host"})


def _url(scope: Scope, headers: Mapping[str, str]) -> str:
    """The request's URL, as the untraced patterns are searched in it: scheme://host/path?query."""
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{headers.get('host', '')}{scope.get('path', '')}" + (f"?{query}" if query else "")


class TraceMiddleware:
    """The HTTP handler's SERVER span: continues the caller's X-Amzn-Trace-Id, answers it back.
    ``untraced``: the URLs that make no span (``url_filter``)."""

    def __init__(self, app: ASGIApp, untraced: re.Pattern[str] | None = None) -> None:
        self.app = app
        self.untraced = untraced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the headers the span reads: a request carries many, and this runs on every one.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in _READ}
        if self.untraced is not None and self.untraced.search(_url(scope, headers)):
            await self.app(scope, receive, send)
            return
        parent = propagate.extract(headers, getter=_HEADERS)
        method = scope.get("method", "GET")
        attributes = {"http.request.method": method, "url.path": scope.get("path", ""), "url.scheme": "http"}
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]
        token = otel_context.attach(parent)
        try:
            with _tracer.start_as_current_span(method, kind=SpanKind.SERVER, attributes=attributes,
                                               record_exception=True, set_status_on_exception=True) as current:
                answer = _trace_header(current)

                async def send_traced(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        status = int(message["status"])
                        current.set_attribute("http.response.status_code", status)
                        if status >= 500:
                            current.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
                        if current.is_recording():
                            message["headers"] = [*message.get("headers", ()),
                                                  (TRACE_HEADER.encode(), answer.encode())]
                    await send(message)

                await self.app(scope, receive, send_traced)
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:
                    current.set_attribute("http.route", template)
                    current.update_name(f"{method} {template}")
        finally:
            otel_context.detach(token)
