"""Turn a raw HTTP request to the endpoint into an ApiRequest: service, operation, Region, params.

botocore's own service models say how each protocol names its operation, so the parser works for
every service moto serves: the SigV4 credential scope (the Authorization header's, or a presigned
URL's X-Amz-Credential) gives service and Region; ``Action`` gives
the operation for query/ec2 protocols, ``X-Amz-Target`` for JSON, and the HTTP method plus the
requestUri template for REST services.

A request that names a service but cannot be read as one of its calls (no or unknown Action, a
missing required parameter, a body that is not XML or JSON, an XML entity declaration) raises
``Rejected`` with the error AWS gives, so the control plane answers in that service's format and
moto never sees it.
"""
from __future__ import annotations

import gzip
import json
import re
from functools import cache
from typing import Any, Mapping
from urllib.parse import parse_qs, urlencode
from xml.parsers.expat import ExpatError

import xmltodict

from stack.local import servicemodels
from stack.local.awserror import AwsError
from stack.local.part import ApiRequest

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request")
# REST services whose every path is one of botocore's templates (ids never hold a "/"), so a path
# that matches none is not a call at all; elsewhere (S3 keys, ARNs in paths) moto routes it.
_ROUTED_ONLY = frozenset({"route53"})
# REST services whose ids may be ARNs, sent with their "/" percent-encoded (which WSGI decodes): a
# path parameter there may hold a "/".
_ARN_IDS = frozenset({"outposts"})
# Signing names that differ from botocore's service names.
_SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "email": "ses", "states": "stepfunctions"}


@cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], dict[str, str | None], str]]:
    """(method, path regex, query it requires, operation) for a REST service, most specific template first.

    Some operations share a path and differ by the query their requestUri names (CloudFront's
    ``/distribution?WithTags``, S3's ``/{Bucket}?tagging``): the query's keys (and a value when the
    template gives one) must be present, and such a template is tried before the bare path.
    """
    routes = []
    model = servicemodels.service_model(service)
    value_pattern = ".+" if service in _ARN_IDS else "[^/]+"
    for name in model.operation_names:
        http = model.operation_model(name).http
        template, _, query = http["requestUri"].partition("?")
        required: dict[str, str | None] = {}
        for pair in filter(None, query.split("&")):
            key, sep, value = pair.partition("=")
            required[key] = value if sep else None
        pattern = re.sub(r"\{(\w+)\+?\}", lambda m: f"(?P<{m.group(1)}>{value_pattern})", template.rstrip("/"))
        routes.append((http["method"], re.compile(f"^{pattern}/?$"), required, name))
    routes.sort(key=lambda route: (-len(route[1].pattern), -len(route[2])))
    return routes


def _query_matches(required: Mapping[str, str | None], given: Mapping[str, list[str]]) -> bool:
    return all(key in given and (value is None or value in given[key]) for key, value in required.items())


def _header_params(service_model: Any, operation: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The input members a REST call sends as headers (CloudFront's If-Match as ``IfMatch``), by model name."""
    shape = service_model.operation_model(operation).input_shape
    found = {}
    for member, member_shape in (shape.members.items() if shape is not None else ()):
        wire = member_shape.serialization
        if wire.get("location") == "header" and str(wire.get("name", member)).lower() in headers:
            found[member] = headers[str(wire.get("name", member)).lower()]
    return found


class Rejected(Exception):
    """A call the endpoint answers with ``error`` before anything else sees it."""

    def __init__(self, request: ApiRequest, error: AwsError) -> None:
        super().__init__(str(error))
        self.request = request
        self.error = error


def presigned(query: str) -> Mapping[str, str] | None:
    """The SigV4 query parameters (X-Amz-Credential, ...) of a presigned URL, or None when it has none."""
    found = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items() if k.startswith("X-Amz-")}
    return found if "X-Amz-Credential" in found else None


def scope(headers: Mapping[str, str], query: str = "") -> tuple[str, str] | None:
    """(service, Region) from the SigV4 credential scope, or None when the request has none.

    The scope is in the Authorization header, or in X-Amz-Credential for a presigned URL (the same
    call, signed in the query string): both are read, so both are validated alike.
    """
    match = _SCOPE.search(headers.get("authorization", ""))
    if not match and not headers.get("authorization"):
        signed = presigned(query)
        match = _SCOPE.search(f"Credential={signed['X-Amz-Credential']}") if signed else None
    if not match:
        return None
    return _SIGNING_TO_SERVICE.get(match["service"], match["service"]), match["region"]


def presigned_authorization(headers: Mapping[str, str], query: str) -> str | None:
    """The Authorization header a presigned SigV4 URL stands for, or None for any other request.

    moto reads the service and Region from that header only, so without it a presigned EC2 call
    reached S3 (its default) and the default Region.
    """
    signed = None if headers.get("authorization") else presigned(query)
    if signed is None or scope(headers, query) is None:
        return None
    return (f"AWS4-HMAC-SHA256 Credential={signed['X-Amz-Credential']}, "
            f"SignedHeaders={signed.get('X-Amz-SignedHeaders', 'host')}, Signature={signed.get('X-Amz-Signature', '')}")


def _protocol(service_model: Any) -> str:
    """The protocol boto3 speaks to ``service_model``: the first of its ``protocols`` botocore supports.

    CloudWatch's model lists smithy-rpc-v2-cbor first, but botocore sends it JSON (with X-Amz-Target).
    """
    return str(getattr(service_model, "resolved_protocol", None) or service_model.protocol)


def _wire_name(protocol: str, shape: Any, member: str) -> str:
    """The parameter name a query/ec2-protocol request uses for ``member`` (as botocore serialises it)."""
    serialization = shape.members[member].serialization
    if "queryName" in serialization:
        return str(serialization["queryName"])
    name = str(serialization.get("name", member))
    return name[0].upper() + name[1:] if protocol == "ec2" else name


def _query_params(service: str, region: str, protocol: str, path: str, query: str, body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        text = body.decode("utf-8") if body else ""
    except UnicodeDecodeError:
        text = ""  # a binary body carries no Action
    form = parse_qs(text, keep_blank_values=True)
    form.update(parse_qs(query, keep_blank_values=True))
    params = {k: v[0] for k, v in form.items()}
    operation = params.pop("Action", None)
    params.pop("Version", None)
    shell = ApiRequest(service=service, operation=operation or "", region=region, params=params)
    if not operation:
        if path not in ("", "/"):
            return "", params  # another API signed with the same name (SES v2 under "ses"): moto's to route
        raise Rejected(shell, AwsError("MissingAction", "The request must contain the parameter Action"))
    service_model = servicemodels.service_model(service)
    if operation not in service_model.operation_names:
        raise Rejected(shell, AwsError("InvalidAction", f"The action {operation} is not valid for this web service."))
    shape = service_model.operation_model(operation).input_shape
    for member in (shape.required_members if shape is not None else []):
        if shape.members[member].serialization.get("flattened"):
            continue  # a flattened list is sent under its items' name; moto's own parsing judges it
        wire = _wire_name(protocol, shape, member)
        if not any(key == wire or key.startswith(wire + ".") for key in params):
            raise Rejected(shell, AwsError("MissingParameter", f"The request must contain the parameter {wire}"))
    return operation, params


def _xml_root_name(service: str, operation: str) -> str | None:
    """The root element of the operation's XML body, or None when its body is not XML (S3 PutObject's bytes)."""
    if not operation:
        return None
    shape = servicemodels.service_model(service).operation_model(operation).input_shape
    if shape is None:
        return None
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        return str(member.serialization.get("name", payload)) if member.type_name == "structure" else None
    return str(shape.serialization["name"]) if shape.serialization.get("name") else None


def _xml_root(service: str, region: str, operation: str, body: bytes) -> dict[str, Any]:
    """The request's XML payload; a body that is not the operation's XML document is MalformedInput."""
    expected = _xml_root_name(service, operation)
    if expected is None:
        return {}  # not an XML body (or no operation to read it for): moto's to judge
    shell = ApiRequest(service=service, operation=operation, region=region, params={})
    try:
        # xmltodict refuses entity declarations, so XXE and entity expansion never run.
        document = _strip_namespaces(xmltodict.parse(body, disable_entities=True))
    except (ExpatError, ValueError):
        raise Rejected(shell, AwsError("MalformedInput", "Could not parse XML")) from None
    root_name = next(iter(document)) if document else ""
    if root_name != expected:
        raise Rejected(shell, AwsError("MalformedInput", f"{root_name or 'the body'} is not valid, expected {expected}"))
    root = document[root_name]
    return root if isinstance(root, dict) else {}


def _json(service: str, region: str, operation: str, body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        shell = ApiRequest(service=service, operation=operation, region=region, params={})
        raise Rejected(shell, AwsError("SerializationException", "The request body is not a JSON object"))
    return value


def rewrite_form(body: bytes, changes: Mapping[str, str | None]) -> bytes:
    """A query/ec2 form body with ``changes`` applied (None removes the parameter)."""
    pairs = [(k, v) for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()]
    out = [(k, values[0]) for k, values in pairs if k not in changes]
    out += [(k, v) for k, v in changes.items() if v is not None]
    return urlencode(out).encode()


def _strip_namespaces(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_namespaces(v) for k, v in value.items() if not k.startswith("@xmlns")}
    if isinstance(value, list):
        return [_strip_namespaces(v) for v in value]
    return value


def parse(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> ApiRequest | None:
    """Identify the API call, or None when the request is not a signed call botocore can name.

    Raises Rejected for a signed call of a service botocore knows that cannot be read (see above).
    """
    signed = scope(headers, query)
    if signed is None:
        return None
    service, region = signed
    if headers.get("content-encoding", "").lower() == "gzip" and body:
        # boto3 gzips large requests of operations with the requestCompression trait (PutMetricData).
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            pass  # not gzip after all: read as sent, and rejected as unreadable if it is
    service_model = servicemodels.find(service)
    if service_model is None:
        return None
    params: dict[str, Any]
    if service_model.protocol in ("query", "ec2"):
        operation, params = _query_params(service, region, service_model.protocol, path, query, body)
    elif _protocol(service_model) == "json":
        target = headers.get("x-amz-target", "")
        prefix, _, operation = target.rpartition(".")
        if target and prefix != service_model.metadata.get("targetPrefix", prefix):
            return None  # another API signed with the same name (DynamoDB Streams under "dynamodb")
        if operation not in service_model.operation_names:
            shell = ApiRequest(service=service, operation=operation, region=region, params={})
            raise Rejected(shell, AwsError("UnknownOperationException", f"Unknown operation {target or '(no X-Amz-Target)'}"))
        params = _json(service, region, operation, body)
    else:
        operation, params = "", {}
        given = parse_qs(query, keep_blank_values=True)
        for route_method, pattern, required, name in _rest_routes(service):
            found = pattern.match(path)
            if route_method == method and found and _query_matches(required, given):
                operation, params = name, dict(found.groupdict())
                break
        if body and service_model.protocol == "rest-xml":
            params.update(_xml_root(service, region, operation, body))
        elif body and service_model.protocol == "rest-json":
            params.update(_json(service, region, operation, body))
        for key, values in parse_qs(query).items():
            params.setdefault(key, values[0])
        if operation:
            for key, value in _header_params(service_model, operation, headers).items():
                params.setdefault(key, value)
        if not operation and service in _ROUTED_ONLY:
            shell = ApiRequest(service=service, operation="", region=region, params={})
            raise Rejected(shell, AwsError("InvalidAction", f"No {service} operation is {method} {path}", 404))
    if not operation:
        return None
    return ApiRequest(service=service, operation=operation, region=region, params=params, path=path,
                      user_agent=headers.get("user-agent", ""))


_READ_ONLY = re.compile(r"^(Describe|List|Get|Test|Lookup|Search|Scan|Query|BatchGet|Check|Validate|Preview|Estimate)")


def is_mutating(operation: str) -> bool:
    return not _READ_ONLY.match(operation)
