"""The edge's request hook: an optional evaluator (AWS WAF) consulted before a request is served.

The proxy builds one ``EdgeRequest`` per viewer request and calls ``RequestEvaluator.evaluate``
before the cache or an origin sees it. ``None`` lets the request through; a ``Verdict`` with
``block`` answers it at the edge (WAF's Block action: 403 by default). The evaluator runs on the
edge's event loop: it must not block (no I/O; read what it needs in ``on_change``, off the loop).

An evaluator is found by module name: when ``stack.local.cloudfront.waf`` exists and has
``make_evaluator(context) -> RequestEvaluator``, the part builds one at start, forwards it every
change, and calls ``observe`` with what the edge finally answered (for metrics and sampled requests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

from stack.local.messages import Change

EVALUATOR_MODULE = "stack.local.cloudfront.waf"
EVALUATOR_FACTORY = "make_evaluator"


@dataclass(frozen=True)
class EdgeRequest:
    """One viewer request as the edge received it."""

    edge: str  # the edge location's code: IAD, PDX, FRA, SIN
    distribution_id: str
    web_acl_id: str  # the distribution's WebACLId ("" when none is associated)
    client_ip: str  # the viewer's source address
    method: str
    path: str  # without the query string
    query: str  # the raw query string, without "?"
    headers: Mapping[str, str]  # lower-case names
    received_at: float  # time.monotonic() when the request was read
    body: bytes = b""  # the whole request body; WAF inspects up to its web ACL's limit


@dataclass(frozen=True)
class Verdict:
    """What the evaluator decided for a request it does not let through unchanged."""

    block: bool
    status: int = 403
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    rule: str = ""  # the rule that decided, for logs and the response


@runtime_checkable
class RequestEvaluator(Protocol):
    def evaluate(self, request: EdgeRequest) -> Verdict | None:
        """None: serve the request; a blocking Verdict: answer it at the edge. Called on the event loop."""
        ...

    def observe(self, request: EdgeRequest, status: int, verdict: Verdict | None) -> None:
        """What the edge answered (after ``evaluate``); cheap, on the event loop."""
        ...

    def on_change(self, change: Change) -> None:
        """Every successful mutating API call, as the part receives it (off the event loop)."""
        ...

    def stop(self) -> None:
        ...
