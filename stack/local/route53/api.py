"""Route 53 responses the part answers itself, in Route 53's REST-XML format (botocore parses them).

Shapes follow botocore's route53 2013-04-01 model: GetHealthCheckStatusResponse and
GetHealthCheckLastFailureReasonResponse (HealthCheckObservations / HealthCheckObservation), and
GetChangeResponse (ChangeInfo). Errors use Route 53's ErrorResponse envelope.
"""
from __future__ import annotations

import datetime
import uuid
from typing import Iterable
from xml.sax.saxutils import escape

from stack.local.part import ApiResponse
from stack.local.route53.health import Observation

NAMESPACE = "https://route53.amazonaws.com/doc/2013-04-01/"


def _headers() -> dict[str, str]:
    return {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())}


def timestamp(moment: datetime.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as Route 53 writes it: 2017-03-27T17:48:16.751Z."""
    moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def observations(root: str, items: Iterable[Observation]) -> ApiResponse:
    """GetHealthCheckStatusResponse or GetHealthCheckLastFailureReasonResponse."""
    body = "".join(
        "<HealthCheckObservation>"
        f"<Region>{escape(o.region)}</Region>"
        f"<IPAddress>{escape(o.ip_address)}</IPAddress>"
        f"<StatusReport><Status>{escape(o.status)}</Status><CheckedTime>{timestamp(o.checked_at)}</CheckedTime></StatusReport>"
        "</HealthCheckObservation>"
        for o in items
    )
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">'
           f"<HealthCheckObservations>{body}</HealthCheckObservations></{root}>")
    return ApiResponse(200, xml.encode(), _headers())


def change_info(change_id: str, status: str, submitted_at: datetime.datetime) -> ApiResponse:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<GetChangeResponse xmlns="{NAMESPACE}"><ChangeInfo>'
           f"<Id>/change/{escape(change_id)}</Id><Status>{status}</Status>"
           f"<SubmittedAt>{timestamp(submitted_at)}</SubmittedAt></ChangeInfo></GetChangeResponse>")
    return ApiResponse(200, xml.encode(), _headers())


def error(status: int, code: str, message: str) -> ApiResponse:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{NAMESPACE}"><Error>'
           f"<Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
           f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return ApiResponse(status, xml.encode(), _headers())


def path_id(path: str, collection: str) -> str:
    """The id after ``/<collection>/`` in a REST path: /2013-04-01/healthcheck/<id>/status -> <id>."""
    parts = [p for p in path.split("/") if p]
    if collection in parts:
        index = parts.index(collection)
        if index + 1 < len(parts):
            return parts[index + 1]
    return ""
