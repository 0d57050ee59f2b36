"""The API messages between the control plane and the parts: a parsed call, an answer, a change."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApiRequest:
    """One AWS API call as the control plane parsed it (botocore's operation names and shapes)."""

    service: str  # botocore service name: "route53", "rds", "ec2", ...
    operation: str  # botocore operation name: "CreateHealthCheck", "RebootDBInstance", ...
    region: str
    params: Mapping[str, Any]  # the request's input, named as in botocore's model
    path: str = ""  # the HTTP path (REST services carry ids there, e.g. /2013-04-01/healthcheck/<id>/status)
    user_agent: str = ""  # the caller's User-Agent: tells a part its own calls (a replicator's writes) apart


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """A successful mutating call, passed to every part's ``on_change``."""

    request: ApiRequest
    response_body: bytes


ApiHandler = Callable[[ApiRequest], ApiResponse]

# OTLP/HTTP trace export (POST /v1/traces) is not a botocore operation: the control plane hands it, as
# an ApiRequest with params {"body": bytes, "content_type": str}, to the part that answers this pair.
OTLP_TRACES = ("xray", "OTLP:/v1/traces")
