"""X-Ray segment documents: checking one as X-Ray does, and reading what a trace summary needs from it.

A segment document is JSON: ``name``, ``id`` (16 hex digits), ``trace_id`` (``1-<8 hex epoch
seconds>-<24 hex>``), ``start_time`` and ``end_time`` (epoch seconds) or ``in_progress``. A
subsegment sent on its own carries ``"type": "subsegment"`` and its ``parent_id``. Subsegments
nest under ``subsegments``; a remote call's has ``namespace`` ``remote`` or ``aws``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
SEGMENT_ID = re.compile(r"[0-9a-f]{16}")
NAME_MAX = 200
DOCUMENT_MAX_BYTES = 64 * 1024  # X-Ray's limit on one segment document


class BadSegment(Exception):
    """A segment document X-Ray refuses; it is answered in UnprocessedTraceSegments, not as an error."""

    def __init__(self, segment_id: str, code: str, message: str) -> None:
        super().__init__(message)
        self.segment_id, self.code, self.message = segment_id, code, message


@dataclass(frozen=True)
class Document:
    """One checked segment (or independent subsegment) document."""

    trace_id: str
    id: str
    parent_id: str | None
    is_segment: bool  # False: an independent subsegment
    body: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def start_s(self) -> float:
        return float(self.body["start_time"])

    @property
    def end_s(self) -> float:
        return float(self.body.get("end_time") or self.body["start_time"])

    @property
    def in_progress(self) -> bool:
        return bool(self.body.get("in_progress")) and "end_time" not in self.body


def trace_epoch_s(trace_id: str) -> int:
    """The second a trace id was made in (its 8 hex digits): what TimeRangeType TraceId filters on."""
    return int(trace_id[2:10], 16)


def parse(raw: str | Mapping[str, Any]) -> Document:
    """Check one document (a JSON string, as PutTraceSegments sends it). Raises BadSegment."""
    if isinstance(raw, str):
        if len(raw.encode()) > DOCUMENT_MAX_BYTES:
            raise BadSegment("", "SegmentTooLarge", f"the document is over {DOCUMENT_MAX_BYTES} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadSegment("", "JSONFormatError", "Bad JSON data") from None
    else:
        body = dict(raw)
    if not isinstance(body, dict):
        raise BadSegment("", "JSONFormatError", "a segment document must be a JSON object")
    segment_id = body.get("id")
    if not isinstance(segment_id, str) or not SEGMENT_ID.fullmatch(segment_id):
        raise BadSegment(str(segment_id or ""), "MissingParam" if segment_id is None else "InvalidId",
                         f"id {segment_id!r} must be 16 hexadecimal digits")
    trace_id = body.get("trace_id")
    if not isinstance(trace_id, str) or not TRACE_ID.fullmatch(trace_id):
        raise BadSegment(segment_id, "MissingParam" if trace_id is None else "InvalidTraceId",
                         f"trace_id {trace_id!r} must be 1-<8 hex digits of epoch seconds>-<24 hex digits>")
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise BadSegment(segment_id, "MissingParam" if name is None else "InvalidName",
                         f"name {name!r} must be a string of 1 to {NAME_MAX} characters")
    for key in ("start_time", "end_time"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise BadSegment(segment_id, "InvalidTime", f"{key} {value!r} must be epoch seconds (a positive number)")
    if body.get("start_time") is None:
        raise BadSegment(segment_id, "MissingParam", "start_time is required")
    if body.get("end_time") is None and not body.get("in_progress"):
        raise BadSegment(segment_id, "MissingParam", "end_time is required unless in_progress is true")
    if body.get("end_time") is not None and body["end_time"] < body["start_time"]:
        raise BadSegment(segment_id, "InvalidTime", f"end_time {body['end_time']} is before start_time {body['start_time']}")
    independent = body.get("type") == "subsegment"
    parent = body.get("parent_id")
    if parent is not None and (not isinstance(parent, str) or not SEGMENT_ID.fullmatch(parent)):
        raise BadSegment(segment_id, "InvalidId", f"parent_id {parent!r} must be 16 hexadecimal digits")
    if independent and parent is None:
        raise BadSegment(segment_id, "MissingParam", "an independent subsegment needs its parent_id")
    return Document(trace_id, segment_id, parent, not independent, body)


def trusted(body: Mapping[str, Any]) -> Document:
    """A document this package made itself (from OTLP): well-formed by construction, so not checked again."""
    independent = body.get("type") == "subsegment"
    return Document(str(body["trace_id"]), str(body["id"]), body.get("parent_id"), not independent, body)


def walk(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The document and every subsegment nested in it, depth first."""
    yield body
    for child in body.get("subsegments") or ():
        if isinstance(child, Mapping):
            yield from walk(child)


def is_remote(body: Mapping[str, Any]) -> bool:
    """Whether a subsegment records a call to another service (a node of the service graph)."""
    return body.get("namespace") in ("remote", "aws")


def remote_type(body: Mapping[str, Any]) -> str:
    """The service graph's type for a remote subsegment's node."""
    if body.get("namespace") == "aws":
        aws = body.get("aws") or {}
        if isinstance(aws, Mapping) and aws.get("table_name"):
            return "AWS::DynamoDB::Table"
        return f"AWS::{body.get('name', 'Service')}"
    if body.get("sql"):
        return "Database::SQL"
    return "remote"
