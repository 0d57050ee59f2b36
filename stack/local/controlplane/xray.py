"""OTLP/HTTP trace export at the endpoint: ``POST /v1/traces``, handed to the part that takes traces.

X-Ray's OTLP endpoint (``https://xray.<region>.amazonaws.com/v1/traces``) takes SigV4-signed
exports; OpenTelemetry's exporters send them unsigned unless a signing extension is configured, so
the local endpoint takes both: a signed export is for the Region it is signed for, an unsigned one
for the Region its spans' resource names (``cloud.region``), else us-east-1. The answer follows
OTLP/HTTP: 200 with an empty ExportTraceServiceResponse, 400 with a google.rpc.Status for a body
that is not an export request, 405 for another method, 404 when no part takes traces.
"""
from __future__ import annotations

import gzip
import json
from typing import Any, Mapping

from stack.local.controlplane import request as requests_
from stack.local.messages import OTLP_TRACES, ApiHandler, ApiRequest, ApiResponse

PATH = "/v1/traces"


def _status(status: int, message: str) -> ApiResponse:
    # google.rpc.Status in its JSON form: any OTLP client reads the message, whatever it sent.
    return ApiResponse(status, json.dumps({"code": 3 if status == 400 else 12, "message": message}).encode(),
                       {"Content-Type": "application/json"})


def answer(environ: Mapping[str, Any], headers: Mapping[str, str], body: bytes,
           answers: Mapping[tuple[str, str], ApiHandler]) -> ApiResponse:
    """The answer to a request on PATH."""
    if environ.get("REQUEST_METHOD") != "POST":
        return _status(405, f"{environ.get('REQUEST_METHOD')} {PATH}: OTLP/HTTP exports are POSTed")
    handler = answers.get(OTLP_TRACES)
    if handler is None:
        return _status(404, f"no part of this stack takes traces at {PATH} (start it with the xray part)")
    if headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as error:
            return _status(400, f"Content-Encoding gzip, but the body is not gzip: {error}")
    signed = requests_.scope(dict(headers), str(environ.get("QUERY_STRING", "")))
    region = signed[1] if signed is not None else ""
    request = ApiRequest(OTLP_TRACES[0], OTLP_TRACES[1], region,
                         {"body": body, "content_type": str(environ.get("CONTENT_TYPE") or headers.get("content-type", ""))},
                         path=PATH, user_agent=headers.get("user-agent", ""))
    return handler(request)
