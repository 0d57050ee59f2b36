"""``XRayPart``: the local stack's X-Ray, fed by OpenTelemetry (OTLP/HTTP) and PutTraceSegments.

It answers X-Ray's API at the stack's endpoint instead of moto (whose X-Ray has no filter
expressions and no service graph): PutTraceSegments, GetTraceSummaries, BatchGetTraces and
GetServiceGraph, per Region, from the spans it received. It also takes OTLP/HTTP trace exports at
``/v1/traces`` on the same endpoint (X-Ray's OTLP endpoint is ``https://xray.<region>.amazonaws.com/v1/traces``);
a span goes to the Region its resource names (``cloud.region``), else the Region the request is signed for.
Traces live in memory for the stack's life.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from stack.local.messages import OTLP_TRACES
from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.xray.api import XRayApi


class XRayPart:
    name: ClassVar[str] = "xray"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = ()

    def __init__(self) -> None:
        self.api = XRayApi()

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: it starts no process and keeps no files."""
        return []

    def start(self, context: PartContext) -> None:
        return None  # the stores are made on first use, per Region

    def stop(self) -> None:
        self.api.stores.clear()

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        found: dict[tuple[str, str], ApiHandler] = {("xray", op): h for op, h in self.api.handlers().items()}
        found[OTLP_TRACES] = self.api.otlp
        return found

    def on_change(self, change: Change) -> None:
        return None  # nothing else in the stack changes traces

    def health(self) -> Health:
        return Health()

    def status(self) -> Mapping[str, Any]:
        return {region: dict(store.counts()) for region, store in sorted(self.api.stores.items())}
