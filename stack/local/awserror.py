"""AWS error responses, rendered in each protocol's wire format so boto3 raises the same ClientError."""
from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

from stack.local import servicemodels
from stack.local.part import ApiRequest, ApiResponse


class AwsError(Exception):
    """An error AWS would return: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender


def render(request: ApiRequest, error: AwsError) -> ApiResponse:
    """``error`` in the wire format of ``request.service``'s protocol (query-style XML when unknown)."""
    model = servicemodels.find(request.service) if request.service else None
    # The protocol boto3 speaks (CloudWatch's model lists CBOR first, but boto3 sends it JSON).
    protocol = str(getattr(model, "resolved_protocol", None) or model.protocol) if model is not None else "query"
    request_id = str(uuid.uuid4())
    code, message = escape(error.code), escape(error.message)
    if protocol == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return ApiResponse(error.status, body.encode(), {"Content-Type": "text/xml"})
    if protocol in ("json", "rest-json"):
        payload = {"__type": error.code, "message": error.message}
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": error.code}
        if model is not None and "awsQueryCompatible" in model.metadata:
            # A former query service (CloudWatch): boto3 reads the query error code from this header.
            headers["x-amzn-query-error"] = f"{error.code};{'Sender' if error.sender else 'Receiver'}"
        return ApiResponse(error.status, json.dumps(payload).encode(), headers)
    if model is not None:
        namespace = model.metadata.get("xmlNamespace") or f"https://{request.service}.amazonaws.com/doc/{model.api_version}/"
    else:
        namespace = "https://aws.amazon.com/doc/"
    kind = "Sender" if error.sender else "Receiver"
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return ApiResponse(error.status, body.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})


def internal_failure(request: ApiRequest) -> ApiResponse:
    """AWS's answer to a request that failed on the server's side: 500 InternalFailure, never a page."""
    return render(request, AwsError("InternalFailure", "The request processing has failed because of an unknown error, "
                                                       "exception or failure; the endpoint's log has the details", 500, sender=False))
