"""The RDS part's side of the API: moto's stored models, parsed requests and query-protocol XML.

The part answers some RDS operations itself (see part.py). It keeps moto as the store of every
instance's configuration (identifier, class, engine, subnet group, tags...) and calls moto's own
backend for the bookkeeping, so moto-answered calls (ModifyDBInstance, tags, snapshots) stay
consistent. What only a data plane knows (status, AZs after a failover, LatestRestorableTime,
replication status) is laid over moto's model when the part serialises a response, with moto's
own serializer, so the XML is exactly what botocore expects.
"""
from __future__ import annotations

from functools import cache
from typing import Any, Mapping

from moto.core.exceptions import ServiceException
from moto.core.parse import QueryParser, XFormedDict
from moto.core.serialize import QuerySerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from stack.local.controlplane import backends
from stack.local.controlplane.awserror import AwsError
from stack.local.part import ApiResponse


@cache
def _service_model() -> Any:
    # moto's own model classes: its parser and serializer need attributes botocore's lack.
    return get_service_model("rds")


def backend(region: str) -> Any:
    """moto's RDS backend for the stack's account in ``region``."""
    return backends.rds(region)


def ec2_backend(region: str) -> Any:
    return backends.ec2(region)


def parse(operation: str, flat: Mapping[str, Any]) -> XFormedDict:
    """The control plane's flat query parameters as moto's backend expects them (nested, typed)."""
    parser = QueryParser(_service_model().operation_model(operation), map_type=XFormedDict)
    parsed = parser.parse({"values": dict(flat), "method": "POST", "headers": {}, "body": b"", "url_path": "/",
                           "url_params": {}})
    return parsed if isinstance(parsed, XFormedDict) else XFormedDict(parsed)


def respond(operation: str, result: Mapping[str, Any]) -> ApiResponse:
    """Serialise ``result`` (objects or dicts named as in botocore's output shape) as RDS XML."""
    serializer = QuerySerializer(_service_model().operation_model(operation), value_picker=XFormedAttributePicker())
    serialized = serializer.serialize(dict(result))
    return ApiResponse(int(serialized["status_code"]), _bytes(serialized["body"]),
                       {k: str(v) for k, v in serialized["headers"].items()} | {"Content-Type": "text/xml"})


def _bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else str(body).encode()


def aws_error(error: ServiceException) -> AwsError:
    """moto's exception as the control plane's AwsError (same code, message, and the model's HTTP status)."""
    code = str(getattr(error, "code", "InvalidParameterValue"))
    return AwsError(code, str(getattr(error, "message", error)), _http_status(code))


@cache
def _http_status(code: str) -> int:
    model = _service_model()
    for name in model.shape_names:
        error = model.shape_for(name).metadata.get("error")
        if error and error.get("code") == code:
            return int(error.get("httpStatusCode", 400))
    return 400


class Shown:
    """A moto DBInstance with the data plane's live fields laid over it, for serialisation only."""

    def __init__(self, model: Any, overrides: Mapping[str, Any]) -> None:
        self._model = model
        self._overrides = dict(overrides)

    def __getattr__(self, name: str) -> Any:
        overrides = self.__dict__["_overrides"]
        if name in overrides:
            return overrides[name]
        return getattr(self.__dict__["_model"], name)
