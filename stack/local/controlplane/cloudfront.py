"""CloudFront rules AWS enforces and moto does not, and what moto answers wrong.

Validated before moto stores anything (AWS's codes, from botocore's CloudFront model):
- a distribution's config: every ``Quantity`` equals its ``Items`` (InconsistentQuantities); an origin
  group has exactly two members (MalformedXML, the model's length constraint, as AWS answers it), each an
  origin of the distribution, and fails over only on 400, 403, 404, 416, 500, 502, 503 or 504;
  ``ConnectionAttempts`` is 1-3 and ``ConnectionTimeout`` 1-10 s (InvalidArgument); every cache
  behaviour targets an origin or an origin group (NoSuchOrigin) and names a cache policy that exists
  (NoSuchCachePolicy, cachepolicies.py); legacy TTLs in order (InvalidTTLOrder); a ``WebACLId`` is the
  ARN of an existing WAFv2 web ACL of scope CLOUDFRONT (InvalidWebACLId);
- UpdateDistribution and DeleteDistribution need ``If-Match`` with the current ETag: a stale one is
  PreconditionFailed (412); an update keeps the CallerReference (IllegalUpdate); deleting an enabled
  distribution is DistributionNotDisabled (409);
- an invalidation's paths start with ``/`` (InvalidArgument).

moto fixed (``install``): each update gives the distribution a new ETag (moto kept one forever, so a
stale ETag could not be told); a behaviour may target an origin group (moto answered NoSuchOrigin for
the default behaviour); an origin keeps its ``OriginAccessControlId`` (moto dropped it); an
invalidation is ``InProgress`` until its scaled duration has passed, then ``Completed`` (moto said
``COMPLETED`` at once, which boto3's ``invalidation_completed`` waiter never accepts).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping

from base.timescale import TimeScale
from stack.local.awserror import AwsError
from stack.local.controlplane import backends, cachepolicies
from stack.local.part import ApiRequest

FAILOVER_STATUS_CODES = frozenset({400, 403, 404, 416, 500, 502, 503, 504})
# How long an invalidation takes, in AWS seconds: AWS gives no figure but "typically 60 to 300 seconds";
# the short end keeps a game day's invalidation step short.
INVALIDATION_S = 60.0
_LISTS = {"Origins": "Origin", "OriginGroups": "OriginGroup", "Members": "OriginGroupMember",
          "StatusCodes": "StatusCode", "CacheBehaviors": "CacheBehavior", "Items": ""}


def items(node: Any, name: str) -> list[Any]:
    """The ``Items`` of an XML list node as a list (xmltodict gives one element as itself, not a list)."""
    if not isinstance(node, Mapping):
        return []
    found = node.get("Items")
    found = found.get(name) if isinstance(found, Mapping) else None
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _quantities(node: Any, path: str) -> None:
    """Every Quantity equals the number of its Items, as CloudFront checks it."""
    if isinstance(node, list):
        for value in node:
            _quantities(value, path)
        return
    if not isinstance(node, Mapping):
        return
    if "Quantity" in node:
        listed = node.get("Items")
        count = sum(len(v) if isinstance(v, list) else 1 for v in listed.values()) if isinstance(listed, Mapping) else 0
        if str(node["Quantity"]).strip() != str(count):
            raise AwsError("InconsistentQuantities", f"The value of Quantity and the size of Items don't match: {path} "
                                                     f"has Quantity {node['Quantity']} and {count} item(s)")
    for key, value in node.items():
        _quantities(value, f"{path}.{key}" if path else key)


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise AwsError("InvalidArgument", f"{what} must be an integer, got {value!r}") from None


def _origins(config: Mapping[str, Any]) -> set[str]:
    ids = set()
    for origin in items(config.get("Origins"), "Origin"):
        for field, low, high in (("ConnectionAttempts", 1, 3), ("ConnectionTimeout", 1, 10)):
            if field in origin and not low <= _int(origin[field], field) <= high:
                raise AwsError("InvalidArgument", f"Origin {origin.get('Id')}: {field} must be between {low} and {high}"
                                                  f"{' seconds' if field == 'ConnectionTimeout' else ''}, got {origin[field]}")
        ids.add(str(origin.get("Id")))
    return ids


def _groups(config: Mapping[str, Any], origins: set[str]) -> set[str]:
    ids = set()
    for index, group in enumerate(items(config.get("OriginGroups"), "OriginGroup"), start=1):
        members = [str(m.get("OriginId")) for m in items(group.get("Members"), "OriginGroupMember")]
        if len(members) != 2:
            # AWS checks the model's constraint (exactly 2) first and answers it in its validation wording.
            bound = "greater than or equal to 2" if len(members) < 2 else "less than or equal to 2"
            raise AwsError("MalformedXML", f"1 validation error detected: Value '{members}' at "
                                           f"'distributionConfig.originGroups.items.{index}.member.members.items' failed to "
                                           f"satisfy constraint: Member must have length {bound}")
        unknown = [m for m in members if m not in origins]
        if unknown:
            raise AwsError("NoSuchOrigin", f"One or more of your origins or origin groups do not exist: origin group "
                                           f"{group.get('Id')} names {', '.join(unknown)}, which is not an origin of the "
                                           f"distribution", 404)
        codes = [_int(c, "StatusCode") for c in items((group.get("FailoverCriteria") or {}).get("StatusCodes"), "StatusCode")]
        if not codes or set(codes) - FAILOVER_STATUS_CODES:
            raise AwsError("InvalidArgument", f"Origin group {group.get('Id')}: failover status codes {codes} are not "
                                              f"allowed; choose from {sorted(FAILOVER_STATUS_CODES)}")
        ids.add(str(group.get("Id")))
    return ids


def _behaviours(config: Mapping[str, Any], targets: set[str]) -> None:
    behaviours = [("the default cache behavior", config.get("DefaultCacheBehavior") or {})]
    behaviours += [(f"cache behavior {b.get('PathPattern')}", b) for b in items(config.get("CacheBehaviors"), "CacheBehavior")]
    for name, behaviour in behaviours:
        target = behaviour.get("TargetOriginId")
        if target not in targets:
            raise AwsError("NoSuchOrigin", f"One or more of your origins or origin groups do not exist: {name} targets "
                                           f"{target!r}; known: {', '.join(sorted(targets))}", 404)
        policy = behaviour.get("CachePolicyId")
        if policy and not cachepolicies.exists(str(policy)):
            raise AwsError("NoSuchCachePolicy", f"The cache policy does not exist: {name} names {policy}", 404)
        ttls = [behaviour.get(k) for k in ("MinTTL", "DefaultTTL", "MaxTTL")]
        if None not in ttls and not _int(ttls[0], "MinTTL") <= _int(ttls[1], "DefaultTTL") <= _int(ttls[2], "MaxTTL"):
            raise AwsError("InvalidTTLOrder", f"The TTL order specified is not valid: {name} has MinTTL {ttls[0]}, "
                                              f"DefaultTTL {ttls[1]}, MaxTTL {ttls[2]}; MinTTL <= DefaultTTL <= MaxTTL")


def _web_acl(config: Mapping[str, Any]) -> None:
    """A distribution's web ACL is a WAFv2 web ACL of scope CLOUDFRONT (``global`` in its ARN) that exists."""
    web_acl = str(config.get("WebACLId") or "")
    if not web_acl:
        return
    if ":global/webacl/" not in web_acl or web_acl not in backends.wafv2_web_acl_arns():
        raise AwsError("InvalidWebACLId", f"A web ACL ID specified is not valid: {web_acl!r} is not the ARN of a WAFv2 web "
                                          "ACL of scope CLOUDFRONT in this account (arn:aws:wafv2:us-east-1:<account>:"
                                          "global/webacl/<name>/<id>; WAF Classic ids are not emulated)")


def check_config(config: Mapping[str, Any]) -> None:
    """Raise AwsError for a DistributionConfig (as parsed from its XML) that CloudFront refuses."""
    _quantities(config, "DistributionConfig")
    _web_acl(config)
    origins = _origins(config)
    _behaviours(config, origins | _groups(config, origins))


def _distribution(request: ApiRequest) -> Any:
    """moto's distribution named by the call, or None (moto answers NoSuchDistribution)."""
    return backends.cloudfront().distributions.get(str(request.params.get("Id", "")))


def _if_match(request: ApiRequest, distribution: Any) -> None:
    given = request.params.get("IfMatch")
    if not given:
        raise AwsError("InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if given != distribution.etag:
        raise AwsError("PreconditionFailed", f"The precondition given in one or more of the request-header fields "
                                             f"evaluated to false: If-Match {given} is not the distribution's current "
                                             f"ETag; read it again (GetDistributionConfig) and retry", 412)


def create_distribution(request: ApiRequest, plane: Any) -> None:
    check_config(request.params.get("DistributionConfig") or {} if request.operation.endswith("WithTags") else request.params)


def update_distribution(request: ApiRequest, plane: Any) -> None:
    distribution = _distribution(request)
    if distribution is None:
        return
    _if_match(request, distribution)
    reference = distribution.distribution_config.caller_reference
    if request.params.get("CallerReference") != reference:
        raise AwsError("IllegalUpdate", f"The update contains modifications that are not allowed: CallerReference "
                                        f"{request.params.get('CallerReference')!r} is not the distribution's "
                                        f"{reference!r}, which never changes")
    check_config(request.params)


def delete_distribution(request: ApiRequest, plane: Any) -> None:
    distribution = _distribution(request)
    if distribution is None:
        return
    _if_match(request, distribution)
    if distribution.distribution_config.Enabled in (True, "true", "True"):
        raise AwsError("DistributionNotDisabled", f"The distribution you are trying to delete ({distribution.id}) has not "
                                                  "been disabled: update it with Enabled false, wait until it is Deployed, "
                                                  "then delete it", 409)


def create_invalidation(request: ApiRequest, plane: Any) -> None:
    batch = request.params
    paths = [str(p) for p in items(batch.get("Paths"), "Path")]
    _quantities(batch.get("Paths") or {}, "InvalidationBatch.Paths")
    bad = [p for p in paths if not p.startswith("/")]
    if not paths or bad:
        raise AwsError("InvalidArgument", f"Your request contains one or more invalid invalidation paths: {bad or paths}; "
                                          "each path starts with /")


VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {
    "CreateDistribution": create_distribution,
    "CreateDistributionWithTags": create_distribution,
    "UpdateDistribution": update_distribution,
    "DeleteDistribution": delete_distribution,
    "CreateInvalidation": create_invalidation,
    **cachepolicies.VALIDATE,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {}

_installed = threading.Lock()
_invalidation_wall_s = [INVALIDATION_S]


def install(timescale: TimeScale) -> None:
    """Fix moto's CloudFront in this process (see the module's docstring); the invalidation time follows ``timescale``."""
    from moto.cloudfront import models

    _invalidation_wall_s[0] = timescale.to_wall(INVALIDATION_S)
    with _installed:
        if getattr(models, "_gameday_fixed", False):
            return
        models._gameday_fixed = True  # type: ignore[attr-defined]
        _fix_etags(models)
        _fix_group_targets(models)
        _fix_invalidations(models)
        _fix_access_controls(models)


def _fix_etags(models: Any) -> None:
    original = models.CloudFrontBackend.update_distribution

    def update_distribution(self: Any, dist_config: dict[str, Any], _id: str, if_match: bool) -> Any:
        distribution, location, _ = original(self, dist_config, _id, if_match)
        distribution.etag = models.random_id()
        return distribution, location, distribution.etag

    models.CloudFrontBackend.update_distribution = update_distribution


def _fix_group_targets(models: Any) -> None:
    """moto checks the default behaviour's target against the origins alone; an origin group is a target too."""
    original = models.DistributionConfig.__init__

    def init(self: Any, config: dict[str, Any]) -> None:
        behaviour = config.get("DefaultCacheBehavior") or {}
        groups = {g.get("Id") for g in (config.get("OriginGroups") or {}).get("Items") or []}
        origins = (config.get("Origins") or {}).get("Items") or []
        target = behaviour.get("TargetOriginId")
        if target in groups and origins:
            behaviour["TargetOriginId"] = origins[0]["Id"]
            original(self, config)
            self.DefaultCacheBehavior.target_origin_id = target
        else:
            original(self, config)

    models.DistributionConfig.__init__ = init


def _fix_invalidations(models: Any) -> None:
    def status(self: Any) -> str:
        started = self.__dict__.get("_gameday_started", 0.0)
        return "Completed" if time.monotonic() - started >= _invalidation_wall_s[0] else "InProgress"

    def set_status(self: Any, _value: str) -> None:  # moto's __init__ sets "COMPLETED": the start is what counts
        self.__dict__["_gameday_started"] = time.monotonic()

    models.Invalidation.status = property(status, set_status)


def _fix_access_controls(models: Any) -> None:
    """moto dropped an origin's OriginAccessControlId: GetDistributionConfig did not show how S3 is reached."""
    original = models.Origin.__init__

    def init(self: Any, origin: dict[str, Any]) -> None:
        original(self, origin)
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""

    models.Origin.__init__ = init
