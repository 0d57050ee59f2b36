"""WAFv2: the checks AWS makes and moto does not, before moto stores a web ACL or an IP set.

moto stores web ACLs and IP sets (wafv2) as given. AWS refuses, with WAFInvalidParameterException
and a message of the form ``Error reason: <reason>., field: <FIELD>, parameter: <value>``:

- an IP set address that is not a CIDR block of the set's IPAddressVersion with its host bits
  clear, or a /0 ("WAF supports all IPv4 and IPv6 CIDR ranges except for /0");
- a rate-based statement's Limit outside 10..2,000,000,000 (botocore's RateLimit) or an
  EvaluationWindowSec other than 60, 120, 300 or 600, and a rate-based statement nested inside
  another statement (it may only be a rule's top-level statement);
- scope CLOUDFRONT called anywhere but us-east-1 (CloudFront's web ACLs live there);
- two rules of one web ACL with the same Priority or Name;
and a rule that references an IP set that does not exist is WAFNonexistentItemException.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Any, Iterator, Mapping

from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse

RATE_LIMIT = (10, 2_000_000_000)  # botocore's wafv2 model: RateLimit min 10, max 2000000000
WINDOWS_S = (60, 120, 300, 600)  # the API reference, RateBasedStatement.EvaluationWindowSec
CLOUDFRONT_REGION = "us-east-1"


def _invalid(reason: str, field: str, parameter: object) -> AwsError:
    return AwsError("WAFInvalidParameterException", f"Error reason: {reason}., field: {field}, parameter: {parameter}")


def _scope(request: ApiRequest) -> None:
    if request.params.get("Scope") == "CLOUDFRONT" and request.region != CLOUDFRONT_REGION:
        raise _invalid(f"The scope CLOUDFRONT is only served in {CLOUDFRONT_REGION}, not {request.region}",
                       "SCOPE_VALUE", "CLOUDFRONT")


def _check_addresses(addresses: Any, version: str) -> None:
    for address in addresses or ():
        try:
            network = ipaddress.ip_network(str(address), strict=True)
        except ValueError:
            network = None
        wanted = 4 if version == "IPV4" else 6
        if network is None or "/" not in str(address) or network.prefixlen == 0 or network.version != wanted:
            raise _invalid("The parameter contains formatting that is not valid", "IP_ADDRESS", address)


def create_ip_set(request: ApiRequest, _plane: Any) -> None:
    _scope(request)
    _check_addresses(request.params.get("Addresses"), str(request.params.get("IPAddressVersion", "IPV4")))


def update_ip_set(request: ApiRequest, _plane: Any) -> None:
    _scope(request)
    version = "IPV4"
    try:
        found = _ip_sets(str(request.params.get("Scope")), request.region)
        match = [s for s in found.values() if s.name == request.params.get("Name") and s.ip_set_id == request.params.get("Id")]
        version = match[0].ip_address_version if match else version
    except (KeyError, AttributeError):
        pass  # moto answers the missing set with WAFNonexistentItemException
    _check_addresses(request.params.get("Addresses"), version)


def _ip_sets(scope: str, region: str) -> Mapping[str, Any]:
    from moto.wafv2.models import GLOBAL_REGION, wafv2_backends

    return wafv2_backends[backends.ACCOUNT_ID][GLOBAL_REGION if scope == "CLOUDFRONT" else region].ip_sets


def _statements(statement: Mapping[str, Any], nested: bool) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """Every statement in ``statement``'s tree, with whether it is nested in another."""
    yield statement, nested
    for key in ("AndStatement", "OrStatement"):
        for inner in (statement.get(key) or {}).get("Statements") or ():
            yield from _statements(inner, True)
    if "NotStatement" in statement:
        yield from _statements(statement["NotStatement"].get("Statement") or {}, True)
    scope_down = (statement.get("RateBasedStatement") or {}).get("ScopeDownStatement")
    if scope_down:
        yield from _statements(scope_down, True)


def _check_rules(request: ApiRequest) -> None:
    _scope(request)
    scope = str(request.params.get("Scope"))
    ip_sets = _ip_sets(scope, request.region)
    priorities: dict[int, str] = {}
    names: set[str] = set()
    for rule in request.params.get("Rules") or ():
        name = str(rule.get("Name"))
        if name in names:
            raise _invalid("Duplicate rule names are not allowed", "RULE", name)
        names.add(name)
        priority = int(rule.get("Priority", 0))
        if priority in priorities:
            raise _invalid(f"Rules {priorities[priority]!r} and {name!r} have the same priority; priorities must be unique",
                           "RULE", priority)
        priorities[priority] = name
        for statement, nested in _statements(rule.get("Statement") or {}, False):
            rate = statement.get("RateBasedStatement")
            if rate is not None:
                if nested:
                    raise _invalid(f"rule {name!r}: a RateBasedStatement can only be a rule's top-level statement",
                                   "RATE_BASED_STATEMENT", name)
                limit = int(rate.get("Limit", 0))
                if not RATE_LIMIT[0] <= limit <= RATE_LIMIT[1]:
                    raise _invalid(f"rule {name!r}: Limit must be {RATE_LIMIT[0]} to {RATE_LIMIT[1]:,} requests",
                                   "RATE_BASED_STATEMENT", limit)
                window = int(rate.get("EvaluationWindowSec", 300))
                if window not in WINDOWS_S:
                    raise _invalid(f"rule {name!r}: EvaluationWindowSec must be one of {', '.join(map(str, WINDOWS_S))}",
                                   "RATE_BASED_STATEMENT", window)
            reference = statement.get("IPSetReferenceStatement")
            if reference is not None and str(reference.get("ARN")) not in ip_sets:
                raise AwsError("WAFNonexistentItemException", f"rule {name!r}: AWS WAF couldn't perform the operation because "
                               f"your resource doesn't exist: IP set {reference.get('ARN')!r} (scope {scope})")


def web_acl(request: ApiRequest, _plane: Any) -> None:
    _check_rules(request)


def scoped(request: ApiRequest, _plane: Any) -> None:
    _scope(request)


def no_samples(request: ApiRequest, _plane: Any) -> ApiResponse:
    """GetSampledRequests on a stack without an edge (the CloudFront part answers it otherwise): nothing was seen."""
    window = request.params.get("TimeWindow") or {}
    body: dict[str, Any] = {"SampledRequests": [], "PopulationSize": 0, "TimeWindow": window}
    return ApiResponse(200, json.dumps(body, default=str).encode(), {"Content-Type": "application/x-amz-json-1.1"})


ANSWER = {"GetSampledRequests": no_samples}
VALIDATE = {
    "CreateIPSet": create_ip_set, "UpdateIPSet": update_ip_set, "CreateWebACL": web_acl, "UpdateWebACL": web_acl,
    "GetWebACL": scoped, "GetIPSet": scoped, "ListWebACLs": scoped, "ListIPSets": scoped, "GetSampledRequests": scoped,
}
