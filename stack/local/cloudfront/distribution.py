"""A distribution's configuration as the edge uses it, parsed from boto3's GetDistributionConfig shape.

Parsed once per change into frozen values, so serving a request never walks boto3's dicts. A
behaviour's caching settings come from its cache policy when it names one (``CachePolicyId``), else
from the legacy ``ForwardedValues`` and ``MinTTL``/``DefaultTTL``/``MaxTTL`` fields, as CloudFront does.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

# AWS's defaults for an origin (CloudFront developer guide, "Origin settings"): 3 attempts, 10 s each,
# and a 30 s response (read) timeout for a custom origin.
DEFAULT_CONNECTION_ATTEMPTS = 3
DEFAULT_CONNECTION_TIMEOUT_S = 10
DEFAULT_READ_TIMEOUT_S = 30
# AWS's managed cache policies (developer guide, "Using the managed cache policies"), which GetCachePolicy
# returns on AWS and moto does not store.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
USE_ORIGIN_CACHE_CONTROL = "83da9c7e-98b4-4e11-a168-04f0df8e2c65"
USE_ORIGIN_CACHE_CONTROL_QUERY_STRINGS = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
_ORIGIN_DECIDES = ("host", "origin", "x-http-method-override", "x-http-method", "x-method-override")


class DistributionError(ValueError):
    """A configuration the edge cannot serve; the message names the distribution and the field."""


@dataclass(frozen=True)
class KeyParts:
    """What goes into the cache key (and to the origin): a cache policy's ParametersInCacheKeyAndForwardedToOrigin."""

    headers: tuple[str, ...] = ()  # lower-case names (whitelist)
    query_behavior: str = "none"  # none | whitelist | allExcept | all
    query_names: frozenset[str] = frozenset()
    cookie_behavior: str = "none"  # none | whitelist | allExcept | all
    cookie_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CachePolicy:
    """TTLs in AWS seconds and the cache key's parts."""

    min_ttl_s: float = 0
    default_ttl_s: float = 86400
    max_ttl_s: float = 31536000
    key: KeyParts = KeyParts()


MANAGED_POLICIES = {
    CACHING_OPTIMIZED: CachePolicy(1, 86400, 31536000),
    CACHING_DISABLED: CachePolicy(0, 0, 0),
    # The origin's Cache-Control decides; nothing is cached without one.
    USE_ORIGIN_CACHE_CONTROL: CachePolicy(0, 0, 31536000, KeyParts(_ORIGIN_DECIDES, cookie_behavior="all")),
    USE_ORIGIN_CACHE_CONTROL_QUERY_STRINGS: CachePolicy(0, 0, 31536000, KeyParts(_ORIGIN_DECIDES, query_behavior="all",
                                                                                 cookie_behavior="all")),
}


@dataclass(frozen=True)
class Origin:
    id: str
    domain_name: str
    path: str  # OriginPath, prepended to the request's path
    s3: bool  # an S3 origin (S3OriginConfig, or an S3 REST domain with OAC)
    http_port: int
    connection_attempts: int
    connection_timeout_s: float  # AWS seconds
    read_timeout_s: float  # AWS seconds
    custom_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OriginGroup:
    id: str
    members: tuple[str, ...]  # primary, secondary
    failover_statuses: frozenset[int]


@dataclass(frozen=True)
class Behavior:
    path_pattern: str  # "*" for the default behaviour
    target: str  # an origin's or an origin group's id
    allowed_methods: frozenset[str]
    cached_methods: frozenset[str]
    policy: CachePolicy
    matcher: Callable[[str], bool]

    def matches(self, path: str) -> bool:
        return self.matcher(path)


@dataclass(frozen=True)
class Distribution:
    id: str
    domain_name: str  # dXXXX.cloudfront.net
    aliases: tuple[str, ...]
    enabled: bool
    web_acl_id: str
    origins: Mapping[str, Origin]
    groups: Mapping[str, OriginGroup]
    behaviors: tuple[Behavior, ...]  # the ordered cache behaviours, then the default one last
    etag: str = ""

    def behavior_for(self, path: str) -> Behavior:
        """The first cache behaviour whose path pattern matches ``path``; the default one otherwise."""
        for behavior in self.behaviors:
            if behavior.matches(path):
                return behavior
        return self.behaviors[-1]

    def origins_for(self, target: str) -> tuple[tuple[Origin, ...], frozenset[int]]:
        """The origins to try for ``target`` in order, and the statuses that move on to the next one."""
        group = self.groups.get(target)
        if group is not None:
            return tuple(self.origins[m] for m in group.members), group.failover_statuses
        return (self.origins[target],), frozenset()


def _items(container: Any) -> list[Any]:
    if not isinstance(container, Mapping):
        return []
    return list(container.get("Items") or [])


def pattern_matcher(pattern: str) -> Callable[[str], bool]:
    """CloudFront's path patterns: case-sensitive, ``*`` any run of characters, ``?`` one; a leading / is optional."""
    if pattern in ("*", "/*"):
        return lambda path: True
    regex = re.compile(fnmatch.translate(pattern.lstrip("/")))
    return lambda path: regex.match(path.lstrip("/")) is not None


def parse_policy(config: Mapping[str, Any]) -> CachePolicy:
    """A CachePolicyConfig (GetCachePolicy's ``CachePolicy.CachePolicyConfig``)."""
    params = config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
    headers = params.get("HeadersConfig") or {}
    queries = params.get("QueryStringsConfig") or {}
    cookies = params.get("CookiesConfig") or {}
    return CachePolicy(
        float(config.get("MinTTL") or 0), float(config.get("DefaultTTL", 86400)), float(config.get("MaxTTL", 31536000)),
        KeyParts(
            headers=tuple(h.lower() for h in _items(headers.get("Headers"))) if headers.get("HeaderBehavior") == "whitelist" else (),
            query_behavior=str(queries.get("QueryStringBehavior") or "none"),
            query_names=frozenset(_items(queries.get("QueryStrings"))),
            cookie_behavior=str(cookies.get("CookieBehavior") or "none"),
            cookie_names=frozenset(_items(cookies.get("Cookies"))),
        ),
    )


def _legacy_policy(behavior: Mapping[str, Any]) -> CachePolicy:
    """The legacy cache settings (ForwardedValues and the behaviour's own TTLs)."""
    forwarded = behavior.get("ForwardedValues") or {}
    cookies = forwarded.get("Cookies") or {}
    forward = str(cookies.get("Forward") or "none")
    names = frozenset(_items(forwarded.get("QueryStringCacheKeys")))
    query = ("whitelist" if names else "all") if forwarded.get("QueryString") else "none"
    return CachePolicy(
        float(behavior.get("MinTTL") or 0), float(behavior.get("DefaultTTL", 86400) or 0), float(behavior.get("MaxTTL", 31536000) or 0),
        KeyParts(headers=tuple(h.lower() for h in _items(forwarded.get("Headers")) if h != "*"),
                 query_behavior=query, query_names=names,
                 cookie_behavior={"whitelist": "whitelist", "all": "all"}.get(forward, "none"),
                 cookie_names=frozenset(_items(cookies.get("WhitelistedNames")))),
    )


def _behavior(data: Mapping[str, Any], pattern: str, policies: Callable[[str], CachePolicy | None], where: str) -> Behavior:
    methods = data.get("AllowedMethods") or {}
    allowed = frozenset(_items(methods) or ["GET", "HEAD"])
    cached = frozenset(_items(methods.get("CachedMethods")) or ["GET", "HEAD"])
    policy_id = str(data.get("CachePolicyId") or "")
    policy = _legacy_policy(data)
    if policy_id:
        found = policies(policy_id)
        if found is None:
            raise DistributionError(f"{where}: CachePolicyId {policy_id!r} names no cache policy")
        policy = found
    return Behavior(pattern, str(data.get("TargetOriginId") or ""), allowed, cached, policy, pattern_matcher(pattern))


def _origin(data: Mapping[str, Any]) -> Origin:
    custom = data.get("CustomOriginConfig") or {}
    domain = str(data["DomainName"])
    s3 = bool(data.get("S3OriginConfig")) or (not custom and ".s3." in f".{domain}" and domain.endswith("amazonaws.com"))
    headers = tuple((str(h["HeaderName"]), str(h["HeaderValue"])) for h in _items(data.get("CustomHeaders")))
    return Origin(
        id=str(data["Id"]), domain_name=domain, path=str(data.get("OriginPath") or ""), s3=s3,
        http_port=int(custom.get("HTTPPort") or 80),
        connection_attempts=int(data.get("ConnectionAttempts") or DEFAULT_CONNECTION_ATTEMPTS),
        connection_timeout_s=float(data.get("ConnectionTimeout") or DEFAULT_CONNECTION_TIMEOUT_S),
        read_timeout_s=float(custom.get("OriginReadTimeout") or DEFAULT_READ_TIMEOUT_S),
        custom_headers=headers,
    )


def parse(distribution_id: str, domain_name: str, config: Mapping[str, Any],
          policies: Callable[[str], CachePolicy | None], etag: str = "") -> Distribution:
    """A DistributionConfig (GetDistributionConfig's) as the edge serves it. Raises DistributionError naming the field."""
    where = f"distribution {distribution_id}"
    origins = {o.id: o for o in (_origin(item) for item in _items(config.get("Origins")))}
    groups = {}
    for item in _items(config.get("OriginGroups")):
        members = tuple(str(m["OriginId"]) for m in _items(item.get("Members")))
        unknown = [m for m in members if m not in origins]
        if unknown:
            raise DistributionError(f"{where}: OriginGroups {item.get('Id')!r} names {unknown}, which are not origins")
        statuses = frozenset(int(s) for s in _items((item.get("FailoverCriteria") or {}).get("StatusCodes")))
        groups[str(item["Id"])] = OriginGroup(str(item["Id"]), members, statuses)
    behaviors = [_behavior(item, str(item.get("PathPattern") or ""), policies, f"{where}: CacheBehaviors[{i}]")
                 for i, item in enumerate(_items(config.get("CacheBehaviors")))]
    behaviors.append(_behavior(config.get("DefaultCacheBehavior") or {}, "*", policies, f"{where}: DefaultCacheBehavior"))
    for behavior in behaviors:
        if behavior.target not in origins and behavior.target not in groups:
            raise DistributionError(f"{where}: TargetOriginId {behavior.target!r} of path pattern {behavior.path_pattern!r} "
                                    f"is neither an origin nor an origin group")
    return Distribution(
        id=distribution_id, domain_name=domain_name.rstrip(".").lower(),
        aliases=tuple(a.lower() for a in _items(config.get("Aliases"))), enabled=bool(config.get("Enabled", True)),
        web_acl_id=str(config.get("WebACLId") or ""), origins=origins, groups=groups, behaviors=tuple(behaviors), etag=etag,
    )
