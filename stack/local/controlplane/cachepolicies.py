"""CloudFront cache policies, which moto does not have: AWS's managed ones, and the account's own.

The control plane answers CreateCachePolicy, GetCachePolicy, GetCachePolicyConfig, ListCachePolicies,
UpdateCachePolicy and DeleteCachePolicy itself, in CloudFront's wire format (moto's serializer, from
botocore's model), with AWS's errors: a name taken (CachePolicyAlreadyExists, 409), TTLs out of order
(InvalidArgument), a stale ``If-Match`` (PreconditionFailed, 412), a managed policy changed or deleted
(IllegalUpdate, IllegalDelete), a policy some distribution uses deleted (CachePolicyInUse, 409). The
edge reads a behaviour's cache key and TTLs from here through GetCachePolicy, like any client.

The managed policies are AWS's, with their ids and settings as AWS publishes them.
"""
from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any, Callable, Mapping

from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse

_METHOD_HEADERS = ["host", "origin", "x-http-method", "x-http-method-override", "x-method-override"]


def _managed(name: str, comment: str, ttls: tuple[int, int, int], compress: bool, headers: list[str] | None = None,
             cookies: str = "none", query: str = "none") -> dict[str, Any]:
    header_config: dict[str, Any] = {"HeaderBehavior": "none"}
    if headers:
        header_config = {"HeaderBehavior": "whitelist", "Headers": {"Quantity": len(headers), "Items": headers}}
    return {"Name": name, "Comment": comment, "MinTTL": ttls[0], "DefaultTTL": ttls[1], "MaxTTL": ttls[2],
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": compress, "EnableAcceptEncodingBrotli": compress,
                "HeadersConfig": header_config, "CookiesConfig": {"CookieBehavior": cookies},
                "QueryStringsConfig": {"QueryStringBehavior": query}}}


YEAR_S = 31_536_000
MANAGED: dict[str, dict[str, Any]] = {
    "658327ea-f89d-4fab-a63d-7e88639e58f6": _managed(
        "Managed-CachingOptimized", "Policy with caching enabled. Supports Gzip and Brotli compression.",
        (1, 86_400, YEAR_S), True),
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": _managed(
        "Managed-CachingOptimizedForUncompressedObjects", "Default policy when compression is disabled",
        (1, 86_400, YEAR_S), False),
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": _managed("Managed-CachingDisabled", "Policy with caching disabled",
                                                     (0, 0, 0), False),
    "83da9c7e-98b4-4e11-a168-04f0df8e2c65": _managed(
        "UseOriginCacheControlHeaders", "Policy for origins that return Cache-Control headers. Query strings are not "
        "included in the cache key.", (0, 0, YEAR_S), True, _METHOD_HEADERS, cookies="all"),
    "4cc15a8a-d715-48a4-82b8-cc0b614638fe": _managed(
        "UseOriginCacheControlHeaders-QueryStrings", "Policy for origins that return Cache-Control headers and serve "
        "different content based on values present in the query string.", (0, 0, YEAR_S), True, _METHOD_HEADERS,
        cookies="all", query="all"),
}
_EPOCH = datetime.datetime(2020, 5, 31, tzinfo=datetime.timezone.utc)


class _Policy:
    def __init__(self, config: dict[str, Any], managed: bool) -> None:
        self.config, self.managed = config, managed
        self.etag = uuid.uuid4().hex[:14].upper()
        self.modified = _EPOCH if managed else datetime.datetime.now(datetime.timezone.utc)


_lock = threading.Lock()
_policies: dict[str, _Policy] = {policy_id: _Policy(config, True) for policy_id, config in MANAGED.items()}


def exists(policy_id: str) -> bool:
    with _lock:
        return policy_id in _policies


def _shaped(value: Any, shape: Any) -> Any:
    """A value parsed from XML (xmltodict) in the model's types: lists, integers, booleans."""
    if shape.type_name == "structure":
        source = value if isinstance(value, Mapping) else {}
        return {name: _shaped(source[name], member) for name, member in shape.members.items() if name in source}
    if shape.type_name == "list":
        element = shape.member.serialization.get("name", "member")
        found = value.get(element) if isinstance(value, Mapping) else None
        found = [] if found is None else found if isinstance(found, list) else [found]
        return [_shaped(v, shape.member) for v in found]
    if shape.type_name in ("integer", "long"):
        try:
            return int(str(value))
        except ValueError:
            raise AwsError("InvalidArgument", f"{shape.name} must be an integer, got {value!r}") from None
    if shape.type_name == "boolean":
        return str(value).lower() == "true"
    return value


def _model() -> Any:
    from stack.local import servicemodels

    return servicemodels.service_model("cloudfront")


def _respond(operation: str, result: dict[str, Any]) -> ApiResponse:
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model

    # moto's serializer takes moto's own flavour of botocore's model.
    serializer = get_serializer_class("cloudfront", "rest-xml")(get_service_model("cloudfront").operation_model(operation))
    answer = serializer.serialize(result)
    body = answer["body"]
    return ApiResponse(int(answer["status_code"]), body.encode() if isinstance(body, str) else body,
                       {str(k): str(v) for k, v in answer["headers"].items()})


def _config(request: ApiRequest) -> dict[str, Any]:
    """The request's CachePolicyConfig, checked as CloudFront checks it."""
    shape = _model().shape_for("CachePolicyConfig")
    config: dict[str, Any] = _shaped(request.params, shape)
    if not config.get("Name"):
        raise AwsError("InvalidArgument", "The cache policy's Name is required")
    for field in ("MinTTL", "DefaultTTL", "MaxTTL"):
        if field in config and config[field] < 0:
            raise AwsError("InvalidArgument", f"{field} must not be negative, got {config[field]}")
    config.setdefault("DefaultTTL", max(86_400, config.get("MinTTL", 0)))  # AWS's defaults, as the model documents
    config.setdefault("MaxTTL", max(YEAR_S, config["DefaultTTL"]))
    if not config.get("MinTTL", 0) <= config["DefaultTTL"] <= config["MaxTTL"]:
        raise AwsError("InvalidArgument", f"The TTLs of cache policy {config['Name']} are not in order: MinTTL "
                                          f"{config.get('MinTTL')}, DefaultTTL {config['DefaultTTL']}, MaxTTL "
                                          f"{config['MaxTTL']}; MinTTL <= DefaultTTL <= MaxTTL")
    parameters = config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
    for key, inner in (("HeadersConfig", "Headers"), ("CookiesConfig", "Cookies"), ("QueryStringsConfig", "QueryStrings")):
        listed = (parameters.get(key) or {}).get(inner)
        if listed is not None and listed.get("Quantity") != len(listed.get("Items") or []):
            raise AwsError("InconsistentQuantities", f"The value of Quantity and the size of Items don't match: "
                                                     f"{key}.{inner} has Quantity {listed.get('Quantity')}")
    return config


def _found(request: ApiRequest) -> tuple[str, _Policy]:
    policy_id = str(request.params.get("Id", ""))
    policy = _policies.get(policy_id)
    if policy is None:
        raise AwsError("NoSuchCachePolicy", f"The cache policy does not exist: {policy_id}", 404)
    return policy_id, policy


def _if_match(request: ApiRequest, policy: _Policy) -> None:
    given = request.params.get("IfMatch")
    if not given:
        raise AwsError("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if given != policy.etag:
        raise AwsError("PreconditionFailed", f"If-Match {given} is not the cache policy's current ETag", 412)


def _named(name: str, besides: str = "") -> None:
    if any(p.config["Name"] == name and i != besides for i, p in _policies.items()):
        raise AwsError("CachePolicyAlreadyExists", f"A cache policy with this name already exists: {name}", 409)


def _document(policy_id: str, policy: _Policy) -> dict[str, Any]:
    return {"Id": policy_id, "LastModifiedTime": policy.modified, "CachePolicyConfig": policy.config}


def create_cache_policy(request: ApiRequest, plane: Any) -> ApiResponse:
    config = _config(request)
    with _lock:
        _named(config["Name"])
        policy_id = str(uuid.uuid4())
        policy = _policies[policy_id] = _Policy(config, False)
    return _respond("CreateCachePolicy", {
        "CachePolicy": _document(policy_id, policy), "ETag": policy.etag,
        "Location": f"https://cloudfront.amazonaws.com/2020-05-31/cache-policy/{policy_id}"})


def get_cache_policy(request: ApiRequest, plane: Any) -> ApiResponse:
    with _lock:
        policy_id, policy = _found(request)
        return _respond("GetCachePolicy", {"CachePolicy": _document(policy_id, policy), "ETag": policy.etag})


def get_cache_policy_config(request: ApiRequest, plane: Any) -> ApiResponse:
    with _lock:
        _, policy = _found(request)
        return _respond("GetCachePolicyConfig", {"CachePolicyConfig": policy.config, "ETag": policy.etag})


def list_cache_policies(request: ApiRequest, plane: Any) -> ApiResponse:
    kind = request.params.get("Type")
    if kind not in (None, "managed", "custom"):
        raise AwsError("InvalidArgument", f"Type must be managed or custom, got {kind!r}")
    with _lock:
        listed = [{"Type": "managed" if p.managed else "custom", "CachePolicy": _document(i, p)}
                  for i, p in _policies.items() if kind is None or (kind == "managed") == p.managed]
    return _respond("ListCachePolicies", {"CachePolicyList": {"MaxItems": len(listed), "Quantity": len(listed),
                                                              "Items": listed}})


def update_cache_policy(request: ApiRequest, plane: Any) -> ApiResponse:
    config = _config(request)
    with _lock:
        policy_id, policy = _found(request)
        if policy.managed:
            raise AwsError("IllegalUpdate", f"The update contains modifications that are not allowed: {policy_id} is a "
                                            "managed cache policy")
        _if_match(request, policy)
        _named(config["Name"], besides=policy_id)
        policy = _policies[policy_id] = _Policy(config, False)
        return _respond("UpdateCachePolicy", {"CachePolicy": _document(policy_id, policy), "ETag": policy.etag})


def _in_use(policy_id: str) -> list[str]:
    used = []
    for distribution in list(backends.cloudfront().distributions.values()):
        config = distribution.distribution_config
        behaviours = [config.DefaultCacheBehavior] + list((config.CacheBehaviors or {}).get("Items") or [])
        if any(getattr(b, "cache_policy_id", None) == policy_id for b in behaviours):
            used.append(str(distribution.distribution_id))
    return used


def delete_cache_policy(request: ApiRequest, plane: Any) -> ApiResponse:
    with _lock:
        policy_id, policy = _found(request)
        if policy.managed:
            raise AwsError("IllegalDelete", f"Deletion is not allowed for this entity: {policy_id} is a managed cache policy")
        _if_match(request, policy)
        users = _in_use(policy_id)
        if users:
            raise AwsError("CachePolicyInUse", f"Cannot delete the cache policy because it is attached to one or more "
                                               f"cache behaviors: distribution(s) {', '.join(users)}", 409)
        del _policies[policy_id]
    return ApiResponse(204, b"", {})


ANSWER: dict[str, Callable[[ApiRequest, Any], ApiResponse]] = {
    "CreateCachePolicy": create_cache_policy,
    "GetCachePolicy": get_cache_policy,
    "GetCachePolicyConfig": get_cache_policy_config,
    "ListCachePolicies": list_cache_policies,
    "UpdateCachePolicy": update_cache_policy,
    "DeleteCachePolicy": delete_cache_policy,
}
VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {}
