"""AWS WAF at the edge: the CloudFront part's request evaluator (hook.py finds ``make_evaluator`` here).

A request to a distribution whose ``WebACLId`` names a WAFv2 web ACL (its ARN) goes through that web
ACL (wafplane.py, wafacl.py) before the cache or an origin sees it; a Block answers it at the edge
with 403 (or the rule's custom response code) and CloudFront's error page. A web ACL the edge
cannot enforce answers 503, never a silent pass. GetSampledRequests is answered by the part through
``answers``; the edge's problems show in the part's health.
"""
from __future__ import annotations

from typing import Mapping

from stack.local.cloudfront.hook import EdgeRequest, Verdict
from stack.local.cloudfront.wafplane import WafPlane
from stack.local.messages import ApiHandler, Change
from stack.local.part import PartContext


class EdgeWaf:
    def __init__(self, plane: WafPlane) -> None:
        self.plane = plane

    def evaluate(self, request: EdgeRequest) -> Verdict | None:
        decision = self.plane.evaluate(request.web_acl_id, request.client_ip, request.method, request.path, request.query,
                                       request.headers, request.body)
        if not decision.blocked:
            return None
        return Verdict(True, decision.status, rule=decision.rule)

    def observe(self, request: EdgeRequest, status: int, verdict: Verdict | None) -> None:
        """Tallies and samples are taken in ``evaluate`` (WAF counts what it decided, not what the origin said)."""

    def on_change(self, change: Change) -> None:
        self.plane.on_change(change)

    def stop(self) -> None:
        self.plane.stop()

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return self.plane.answers()

    def problems(self) -> list[str]:
        return [f"web ACL {arn} not enforced (its requests get 503): {reason}" for arn, reason in self.plane.problems.items()]


def make_evaluator(context: PartContext) -> EdgeWaf:
    plane = WafPlane(context.client, context.environment, context.log)
    plane.start()
    return EdgeWaf(plane)
