"""Reading CloudFront's distributions and cache policies through boto3, as any user of the endpoint does."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import Any, Callable

from stack.local.cloudfront.distribution import MANAGED_POLICIES, CachePolicy, Distribution, DistributionError, parse, parse_policy

_INVALIDATION_PATH = re.compile(r"/distribution/([^/]+)/invalidation")
_DISTRIBUTION_PATH = re.compile(r"/distribution/([^/?]+)")


def read_distributions(client: Any) -> tuple[dict[str, Distribution], list[str]]:
    """Every distribution by id, parsed, and one problem per distribution the edge cannot serve."""
    policies: dict[str, CachePolicy | None] = dict(MANAGED_POLICIES)

    def policy(policy_id: str) -> CachePolicy | None:
        if policy_id not in policies:
            try:
                found = client.get_cache_policy(Id=policy_id)["CachePolicy"]["CachePolicyConfig"]
                policies[policy_id] = parse_policy(found)
            except Exception:  # noqa: BLE001 - NoSuchCachePolicy, or an endpoint without cache policies
                policies[policy_id] = None
        return policies[policy_id]

    found, problems = {}, []
    for summary in _summaries(client):
        distribution_id = str(summary["Id"])
        try:
            answer = client.get_distribution_config(Id=distribution_id)
            found[distribution_id] = parse(distribution_id, str(summary["DomainName"]), answer["DistributionConfig"],
                                           policy, str(answer.get("ETag") or ""))
        except DistributionError as error:
            problems.append(str(error))
        except (KeyError, TypeError, ValueError) as error:
            problems.append(f"distribution {distribution_id}: unreadable configuration ({type(error).__name__}: {error})")
    return found, problems


def _summaries(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    marker = ""
    while True:
        page = client.list_distributions(**({"Marker": marker} if marker else {}))["DistributionList"]
        items += page.get("Items") or []
        marker = page.get("NextMarker") or ""
        if not page.get("IsTruncated") or not marker:
            return items


def invalidated(path: str, response_body: bytes, fallback: Callable[[str], list[str]]) -> tuple[str, list[str]]:
    """(distribution id, paths) of a CreateInvalidation call, from its request path and response body.

    ``fallback(distribution_id)`` reads the paths through the API when the body does not carry them."""
    match = _INVALIDATION_PATH.search(path)
    distribution_id = match.group(1) if match else ""
    paths: list[str] = []
    try:
        root = ElementTree.fromstring(response_body)
        paths = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Path"]
    except ElementTree.ParseError:
        pass
    if distribution_id and not paths:
        paths = fallback(distribution_id)
    return distribution_id, paths


def distribution_id_of(path: str, response_body: bytes) -> str:
    """The distribution a call changed: from its path (UpdateDistribution), else its answer's ``Distribution/Id``."""
    match = _DISTRIBUTION_PATH.search(path)
    if match:
        return match.group(1)
    try:
        root = ElementTree.fromstring(response_body)
    except ElementTree.ParseError:
        return ""
    if root.tag.rsplit("}", 1)[-1] != "Distribution":
        return ""
    for child in root:
        if child.tag.rsplit("}", 1)[-1] == "Id":
            return child.text or ""
    return ""
