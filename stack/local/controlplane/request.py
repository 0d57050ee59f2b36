"""Turn a raw HTTP request to the endpoint into an ApiRequest: service, operation, Region, params.

botocore's own service models say how each protocol names its operation, so the parser works for
every service moto serves: the SigV4 credential scope gives service and Region; ``Action`` gives
the operation for query/ec2 protocols, ``X-Amz-Target`` for JSON, and the HTTP method plus the
requestUri template for REST services.
"""
from __future__ import annotations

import json
import re
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import botocore.session
import xmltodict

from stack.local.part import ApiRequest

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request")
# Signing names that differ from botocore's service names.
_SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions"}


@cache
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operation) for a REST service, most specific template first."""
    routes = []
    model = _model(service)
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = http["requestUri"].split("?")[0]
        pattern = re.sub(r"\{(\w+)\+?\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template.rstrip("/"))
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), name))
    routes.sort(key=lambda route: -len(route[1].pattern))
    return routes


def _strip_namespaces(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_namespaces(v) for k, v in value.items() if not k.startswith("@xmlns")}
    if isinstance(value, list):
        return [_strip_namespaces(v) for v in value]
    return value


def parse(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> ApiRequest | None:
    """Identify the API call, or None when the request is not a signed AWS API call we can name."""
    match = _SCOPE.search(headers.get("authorization", ""))
    if not match:
        return None
    service = _SIGNING_TO_SERVICE.get(match["service"], match["service"])
    region = match["region"]
    try:
        model = _model(service)
    except Exception:
        return None
    params: dict[str, Any]
    if model.protocol in ("query", "ec2"):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if body else {}
        form.update(parse_qs(query, keep_blank_values=True))
        params = {k: v[0] for k, v in form.items()}
        operation = params.pop("Action", None)
        params.pop("Version", None)
    elif model.protocol == "json":
        target = headers.get("x-amz-target", "")
        operation = target.rsplit(".", 1)[-1] or None
        params = json.loads(body) if body else {}
    else:
        operation, params = None, {}
        for route_method, pattern, name in _rest_routes(service):
            found = pattern.match(path)
            if route_method == method and found:
                operation, params = name, dict(found.groupdict())
                break
        if body and model.protocol == "rest-xml":
            document = _strip_namespaces(xmltodict.parse(body))
            root = next(iter(document.values())) if document else {}
            if isinstance(root, dict):
                params.update(root)
        elif body and model.protocol == "rest-json":
            params.update(json.loads(body))
        for key, values in parse_qs(query).items():
            params.setdefault(key, values[0])
    if not operation:
        return None
    return ApiRequest(service=service, operation=operation, region=region, params=params, path=path)


_READ_ONLY = re.compile(r"^(Describe|List|Get|Test|Lookup|Search|Scan|Query|BatchGet|Check|Validate|Preview|Estimate)")


def is_mutating(operation: str) -> bool:
    return not _READ_ONLY.match(operation)
