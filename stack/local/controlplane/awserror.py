"""AWS error responses, rendered in each protocol's wire format so boto3 raises the same ClientError."""
from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

import botocore.session

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
    model = botocore.session.get_session().get_service_model(request.service)
    request_id = str(uuid.uuid4())
    code, message = escape(error.code), escape(error.message)
    if model.protocol == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return ApiResponse(error.status, body.encode(), {"Content-Type": "text/xml"})
    if model.protocol in ("json", "rest-json"):
        payload = {"__type": error.code, "message": error.message}
        return ApiResponse(error.status, json.dumps(payload).encode(),
                           {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": error.code})
    namespace = model.metadata.get("xmlNamespace") or f"https://{request.service}.amazonaws.com/doc/{model.api_version}/"
    kind = "Sender" if error.sender else "Receiver"
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return ApiResponse(error.status, body.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})
