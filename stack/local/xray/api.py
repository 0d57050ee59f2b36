"""X-Ray's API over the trace stores: PutTraceSegments, GetTraceSummaries, BatchGetTraces, GetServiceGraph,
and the OTLP/HTTP receiver.

Shapes are botocore's (``xray`` service model, rest-json: timestamps are epoch seconds). Bad input
is InvalidRequestException (400), X-Ray's error for every operation here; a bad segment document is
not an error but an entry of ``UnprocessedTraceSegments``, as on AWS.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from typing import Any, Callable, Mapping

from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from stack.local.awserror import AwsError
from stack.local.messages import ApiRequest, ApiResponse
from stack.local.xray import documents, otlp
from stack.local.xray.filters import FilterError, compile_filter
from stack.local.xray.graph import service_graph
from stack.local.xray.store import TraceRecord, TraceStore

ACCOUNT_ID = "123456789012"  # the local stack's one account (moto's default)
PAGE_SIZE = 100  # summaries per page (AWS pages too, without documenting the size)
DEFAULT_REGION = "us-east-1"
TIME_RANGE_TYPES = ("TraceId", "Event", "Service")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidRequestException", message)


def _json(payload: Mapping[str, Any]) -> ApiResponse:
    return ApiResponse(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _timestamp(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name)
    if value is None:
        raise _invalid(f"{name} is required")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(f"{name} {value!r} is not a timestamp (epoch seconds or ISO 8601)") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
    raise _invalid(f"{name} {value!r} is not a timestamp (epoch seconds or ISO 8601)")


def _window(params: Mapping[str, Any]) -> tuple[float, float]:
    start_s, end_s = _timestamp(params, "StartTime"), _timestamp(params, "EndTime")
    if end_s < start_s:
        raise _invalid(f"EndTime {end_s} is before StartTime {start_s}")
    return start_s, end_s


def _token(fingerprint: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"q": fingerprint, "o": offset}).encode()).decode()


def _offset(params: Mapping[str, Any], fingerprint: str) -> int:
    raw = params.get("NextToken")
    if not raw:
        return 0
    try:
        token = json.loads(base64.urlsafe_b64decode(str(raw).encode()))
        offset = int(token["o"])
        same = token["q"] == fingerprint
    except (ValueError, KeyError, TypeError):
        raise _invalid(f"NextToken {raw!r} is not a token this API returned") from None
    if not same or offset < 0:
        raise _invalid("NextToken belongs to another query: pass it with the same parameters it was returned for")
    return offset


def summary(record: TraceRecord) -> dict[str, Any]:
    """One TraceSummary (botocore's shape)."""
    found: dict[str, Any] = {
        "Id": record.trace_id, "StartTime": record.start_s, "Duration": round(record.duration_s, 6),
        "ResponseTime": round(record.response_time_s, 6), "HasFault": record.fault, "HasError": record.error,
        "HasThrottle": record.throttle, "IsPartial": record.in_progress, "Annotations": {}, "Users": [],
        "ServiceIds": [{"Name": name, "Names": [name], "AccountId": ACCOUNT_ID, "Type": record.service_types.get(name, "")}
                       for name in sorted(record.services)],
        "ResourceARNs": [], "InstanceIds": [{"Id": i} for i in sorted(record.instances)],
        "AvailabilityZones": [{"Name": z} for z in sorted(record.zones)], "Revision": len(record.documents),
    }
    if record.http_method or record.http_status is not None:
        found["Http"] = {"HttpURL": record.http_url, "HttpMethod": record.http_method, "HttpStatus": record.http_status}
    root = record.documents.get(record.root_id) if record.root_id else None
    if root is not None:
        found["EntryPoint"] = {"Name": root.name, "Names": [root.name], "AccountId": ACCOUNT_ID,
                               "Type": str(root.body.get("origin") or "")}
    return found


class XRayApi:
    """The operations, each over the store of the request's Region."""

    def __init__(self) -> None:
        self.stores: dict[str, TraceStore] = {}

    def store(self, region: str) -> TraceStore:
        found = self.stores.get(region)
        if found is None:
            found = self.stores.setdefault(region, TraceStore())
        return found

    def handlers(self) -> dict[str, Callable[[ApiRequest], ApiResponse]]:
        return {"PutTraceSegments": self.put_trace_segments, "GetTraceSummaries": self.get_trace_summaries,
                "BatchGetTraces": self.batch_get_traces, "GetServiceGraph": self.get_service_graph}

    def put_trace_segments(self, request: ApiRequest) -> ApiResponse:
        raw = request.params.get("TraceSegmentDocuments")
        if not isinstance(raw, list):
            raise _invalid("TraceSegmentDocuments must be a list of segment documents (JSON strings)")
        accepted, unprocessed = [], []
        for item in raw:
            try:
                accepted.append(documents.parse(item if isinstance(item, str) else json.dumps(item)))
            except documents.BadSegment as bad:
                unprocessed.append({"Id": bad.segment_id, "ErrorCode": bad.code, "Message": bad.message})
        self.store(request.region).put(accepted)
        return _json({"UnprocessedTraceSegments": unprocessed})

    def get_trace_summaries(self, request: ApiRequest) -> ApiResponse:
        params = request.params
        start_s, end_s = _window(params)
        kind = params.get("TimeRangeType") or "TraceId"
        if kind not in TIME_RANGE_TYPES:
            raise _invalid(f"TimeRangeType {kind!r} is not one of {', '.join(TIME_RANGE_TYPES)}")
        expression = params.get("FilterExpression")
        try:
            predicate = compile_filter(expression)
        except FilterError as error:
            raise _invalid(str(error)) from None
        fingerprint = hashlib.sha256(json.dumps([start_s, end_s, kind, expression]).encode()).hexdigest()[:16]
        cursor = _offset(params, fingerprint)
        page, following, scanned = self.store(request.region).page(start_s, end_s, predicate, kind != "TraceId",
                                                                    cursor, PAGE_SIZE)
        answer: dict[str, Any] = {"TraceSummaries": [summary(r) for r in page], "ApproximateTime": time.time(),
                                  "TracesProcessedCount": scanned}
        if following is not None:
            answer["NextToken"] = _token(fingerprint, following)
        return _json(answer)

    def batch_get_traces(self, request: ApiRequest) -> ApiResponse:
        ids = request.params.get("TraceIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _invalid("TraceIds must be a list of trace ids such as 1-5f84c7a1-e3b1b3a1b2c3d4e5f6a7b8c9")
        found, missing = self.store(request.region).get(ids)
        traces = []
        for record in found:
            segments = record.assembled()
            traces.append({"Id": record.trace_id, "Duration": round(record.duration_s, 6), "LimitExceeded": False,
                           "Segments": [{"Id": s["id"], "Document": json.dumps(s)} for s in segments]})
        return _json({"Traces": traces, "UnprocessedTraceIds": missing})

    def get_service_graph(self, request: ApiRequest) -> ApiResponse:
        start_s, end_s = _window(request.params)
        if request.params.get("GroupName") not in (None, "", "Default") or request.params.get("GroupARN"):
            raise _invalid("groups are not served by the local stack: omit GroupName/GroupARN (the Default group)")
        records = self.store(request.region).find(start_s, end_s, lambda _r: True, by_event=True)
        return _json({"StartTime": start_s, "EndTime": end_s, "Services": service_graph(records, ACCOUNT_ID),
                      "ContainsOldGroupVersions": False})

    def otlp(self, request: ApiRequest) -> ApiResponse:
        """POST /v1/traces: 200 with an empty ExportTraceServiceResponse, or 400 with a google.rpc.Status."""
        content_type = str(request.params.get("content_type") or "")
        body = request.params.get("body") or b""
        try:
            converted = otlp.convert(otlp.decode(body, content_type))
            parsed = [(c.region, documents.trusted(c.document)) for c in converted]
        except otlp.MalformedPayload as error:
            return _otlp_answer(content_type, 400, str(error))
        by_region: dict[str, list[documents.Document]] = {}
        for region, document in parsed:
            by_region.setdefault(region or request.region or DEFAULT_REGION, []).append(document)
        for region, items in by_region.items():
            self.store(region).put(items)
        return _otlp_answer(content_type, 200, "")


def _otlp_answer(content_type: str, status: int, message: str) -> ApiResponse:
    as_json = content_type.split(";")[0].strip().lower() != otlp.PROTOBUF  # an unknown type gets JSON: readable
    if status == 200:
        body = b"{}" if as_json else ExportTraceServiceResponse().SerializeToString()
    else:
        # OTLP/HTTP answers a bad request with a google.rpc.Status (code 3: INVALID_ARGUMENT).
        error = status_pb2.Status(code=3, message=message)
        body = json.dumps({"code": 3, "message": message}).encode() if as_json else error.SerializeToString()
    return ApiResponse(status, body, {"Content-Type": otlp.JSON if as_json else otlp.PROTOBUF})
