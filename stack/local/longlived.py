"""Keeping the supervisor's long-lived objects out of the cyclic garbage collector's full passes.

The supervisor freezes what it holds once its parts have started (``gc.freeze``: moto's and botocore's
models, millions of objects). What it makes afterwards stays in the collector's care: the build's resources,
X-Ray's traces, CloudWatch's datapoints, the DNS answers' caches, hundreds of thousands of dicts after a few
minutes of a game day. A full (generation 2) pass walks every one of them while holding the GIL, and it came
every 20 s or so and took 230-440 ms in a game day's supervisor: every thread (the DNS server, the control
plane, the health checkers, the RDS monitor) stood still meanwhile, which a user sees as a latency spike
(a checkout p95 from Singapore 275 ms against its 250 ms SLO in one game day).

So after each full pass, whatever survived it is frozen too: it has just proved it is not garbage, and the
next full pass walks only what is newer. What a frozen object becomes is still freed by reference counting
when nothing holds it; only a reference cycle among frozen objects that later all become garbage is never
collected. The supervisor's long-lived data (documents, records, resources) is plain and acyclic, and what
was in flight at the moment (a request or two) is small, so that is a bounded cost.
"""
from __future__ import annotations

import gc
from typing import Any

FULL = 2  # the oldest generation: a pass over it walks every tracked object that is not frozen


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == FULL:
        gc.freeze()


def freeze_after_full_collections() -> None:
    """From now on, freeze what survives each full collection (idempotent)."""
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def stop_freezing() -> None:
    while _freeze_survivors in gc.callbacks:
        gc.callbacks.remove(_freeze_survivors)


def freezing() -> bool:
    return _freeze_survivors in gc.callbacks
