"""RDS's monitor deciding that a primary's AZ is cut off, with the network's answers scripted.

The end-to-end case (a real NACL cut, a real failover) is in test_isolation.py. Here the order of the probes
matters, so each answer is given in turn: what the monitor asks, and when, decides whether it fails over.
"""
from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from stack.local.rds.monitor import Monitor
from stack.local.rds.timing import RdsTiming


class ScriptedWiring:
    """Answers each member's probes from its own list, in order; records the order they were asked in."""

    def __init__(self, **answers: list[bool]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def probe(self, member: Any, timeout_s: float) -> bool:
        self.asked.append(member.name)
        return self.answers[member.name].pop(0)


def _member(name: str) -> Any:
    return SimpleNamespace(name=name, node=SimpleNamespace(is_running=lambda: True))


def _database() -> Any:
    """What Monitor.check reads of a synchronous Multi-AZ Database whose nodes are both running."""
    return SimpleNamespace(identifier="orders", region="us-east-1", status="available", stopping=threading.Event(),
                           lock=threading.Lock(), primary=_member("primary"), standby=_member("standby"),
                           standby_needs_rebuild=False, next_deep_check_at=0.0, synchronous=True,
                           unreachable_probes=0, standby_streaming=lambda: True)


def _checks(wiring: ScriptedWiring, times: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run Monitor.check ``times`` times, each as a due deep check; returns the reasons it recovered for."""
    monitor = Monitor(lambda: [], lambda *a, **k: None, RdsTiming(), wiring, lambda *a: None,  # type: ignore[arg-type]
                      threading.RLock(), logging.getLogger("test.rds.monitor"))
    recovered: list[str] = []
    monkeypatch.setattr(monitor, "recover", lambda database, why: recovered.append(why))
    database = _database()
    for _ in range(times):
        database.next_deep_check_at = time.monotonic()
        monitor.check(database)
    return recovered


def test_a_primary_cut_off_while_its_standby_answers_fails_over(monkeypatch: pytest.MonkeyPatch) -> None:
    wiring = ScriptedWiring(primary=[False, False, False], standby=[True])
    assert _checks(wiring, 2, monkeypatch) == ["is unreachable on its address"]
    assert wiring.asked == ["primary", "primary", "standby", "primary"]


def test_both_azs_cut_do_not_fail_over(monkeypatch: pytest.MonkeyPatch) -> None:
    wiring = ScriptedWiring(primary=[False, False, False], standby=[False, False])
    assert _checks(wiring, 3, monkeypatch) == []


def test_a_region_cut_lifted_during_the_primarys_probe_does_not_fail_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Region's isolation rolled back: the standby's subnet answers again a moment before the primary's.

    The primary's probe that began before the rollback times out, the standby's that follows it answers.
    Before the primary was asked again, that passed for its AZ alone being cut off (a spurious failover after
    the Region evacuation experiment)."""
    wiring = ScriptedWiring(primary=[False, False, False, True], standby=[False, True])
    assert _checks(wiring, 3, monkeypatch) == []
    assert wiring.asked == ["primary", "primary", "standby", "primary", "standby", "primary"]
