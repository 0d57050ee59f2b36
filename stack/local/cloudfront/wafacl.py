"""A WAFv2 web ACL evaluated at the edge: rules in priority order, Block (403), Count, Allow, default action.

``WebAcl`` is built from GetWebACL's ``WebACL`` and the IP sets it references; ``evaluate`` runs one
request through it as WAF does: the rules in ascending Priority, a Count match is recorded and
evaluation goes on, the first Allow or Block match ends it, and a request no terminating rule
matched gets the DefaultAction. Block answers 403 unless the action carries a CustomResponse.

Every request is tallied per rule metric name (and ``ALL`` for the web ACL) as Allowed, Blocked or
Counted, the numbers WAF publishes to CloudWatch; requests are sampled for GetSampledRequests
(wafsamples.py) when the visibility config asks for it. The clock is the caller's wall clock.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from stack.local.cloudfront import wafrules
from stack.local.cloudfront.wafrate import RateRule
from stack.local.cloudfront.wafrules import Matcher, Network, WebRequest
from stack.local.cloudfront.wafsamples import Sample, Samples

ALL = "ALL"  # the Rule dimension's value for a whole web ACL's metrics
DEFAULT_ACTION_METRIC = "Default_Action"


@dataclass(frozen=True)
class Decision:
    action: str  # ALLOW or BLOCK (Count never ends evaluation)
    rule: str  # the terminating rule's name, or "Default_Action"
    status: int  # the status to answer when blocked (403 unless a CustomResponse says otherwise)
    counted: tuple[str, ...] = ()  # Count rules that matched on the way

    @property
    def blocked(self) -> bool:
        return self.action == "BLOCK"


@dataclass(frozen=True)
class _Rule:
    name: str
    priority: int
    action: str  # ALLOW, BLOCK or COUNT
    status: int
    metric: str
    sampled: bool
    match: Matcher


def _action(spec: Mapping[str, Any], where: str) -> tuple[str, int]:
    for name in ("Allow", "Block", "Count"):
        if name in spec:
            custom = (spec[name] or {}).get("CustomResponse") or {}
            return name.upper(), int(custom.get("ResponseCode", 403))
    raise wafrules.Unsupported(f"{where} {sorted(spec)} is not emulated; emulated: Allow, Block, Count")


def _body_limit(acl: Mapping[str, Any]) -> int:
    """Bytes of a request body this web ACL inspects: AssociationConfig's CLOUDFRONT limit, 16 KB by default."""
    limits = ((acl.get("AssociationConfig") or {}).get("RequestBody") or {})
    name = str((limits.get("CLOUDFRONT") or {}).get("DefaultSizeInspectionLimit", "KB_16"))
    if name not in wafrules.BODY_LIMITS:
        raise wafrules.Unsupported(f"AssociationConfig RequestBody CLOUDFRONT DefaultSizeInspectionLimit {name!r}; "
                                   f"allowed: {', '.join(wafrules.BODY_LIMITS)}")
    return wafrules.BODY_LIMITS[name]


class WebAcl:
    """One web ACL's rules and their state (rate counters, tallies, samples)."""

    def __init__(self, acl: Mapping[str, Any], ip_sets: Callable[[str], "list[Network]"], clock: Callable[[], float],
                 to_wall: Callable[[float], float], wall_time: Callable[[], float]) -> None:
        self.name = str(acl["Name"])
        self.arn = str(acl["ARN"])
        self.metric = str((acl.get("VisibilityConfig") or {}).get("MetricName", self.name))
        self.sampled = bool((acl.get("VisibilityConfig") or {}).get("SampledRequestsEnabled", False))
        self.body_limit = _body_limit(acl)
        self.rates: dict[str, RateRule] = {}
        rules = []
        for raw in sorted(acl.get("Rules") or [], key=lambda r: int(r["Priority"])):
            name = str(raw["Name"])

            def rate(statement: Mapping[str, Any], scope_down: Matcher | None, name: str = name) -> Matcher:
                rule = RateRule(statement, scope_down, clock, to_wall)
                self.rates[name] = rule
                return rule
            if "Action" not in raw:
                raise wafrules.Unsupported(f"rule {name!r} has no Action (rule groups' OverrideAction is not emulated)")
            action, status = _action(raw["Action"], f"rule {name!r} Action")
            visibility = raw.get("VisibilityConfig") or {}
            rules.append(_Rule(name, int(raw["Priority"]), action, status, str(visibility.get("MetricName", name)),
                               bool(visibility.get("SampledRequestsEnabled", False)),
                               wafrules.compile_statement(raw["Statement"], ip_sets, rate)))
        self.rules = tuple(rules)
        self.default, self.default_status = _action(acl.get("DefaultAction") or {"Allow": {}}, "DefaultAction")
        self._lock = threading.Lock()
        self.tallies: Counter[tuple[str, str]] = Counter()  # (rule metric or ALL, Allowed/Blocked/Counted) -> requests
        self.samples = Samples(wall_time)

    def evaluate(self, request: WebRequest) -> Decision:
        counted: list[_Rule] = []
        terminating: _Rule | None = None
        for rule in self.rules:
            if not rule.match(request):
                continue
            if rule.action == "COUNT":
                counted.append(rule)
                continue
            terminating = rule
            break
        if terminating is not None:
            verdict = Decision(terminating.action, terminating.name, terminating.status, tuple(r.name for r in counted))
        else:
            verdict = Decision(self.default, DEFAULT_ACTION_METRIC, self.default_status, tuple(r.name for r in counted))
        self._record(request, verdict, terminating, counted)
        return verdict

    def _record(self, request: WebRequest, verdict: Decision, terminating: _Rule | None, counted: list[_Rule]) -> None:
        outcome = "BlockedRequests" if verdict.blocked else "AllowedRequests"
        with self._lock:
            self.tallies[(ALL, outcome)] += 1
            self.tallies[(terminating.metric if terminating else DEFAULT_ACTION_METRIC, outcome)] += 1
            for rule in counted:
                self.tallies[(rule.metric, "CountedRequests")] += 1
                self.tallies[(ALL, "CountedRequests")] += 1
        status = verdict.status if verdict.blocked else 200
        if terminating is not None and terminating.sampled:
            self.samples.add(terminating.metric, Sample(request, verdict.action, terminating.name, status))
        for rule in counted:
            if rule.sampled:
                self.samples.add(rule.metric, Sample(request, "COUNT", rule.name, status))
        if self.sampled:
            self.samples.add(self.metric, Sample(request, verdict.action, verdict.rule, status))

    def drain(self) -> Counter[tuple[str, str]]:
        """The tallies since the last drain (what the next metric publication carries)."""
        with self._lock:
            taken, self.tallies = self.tallies, Counter()
        return taken
