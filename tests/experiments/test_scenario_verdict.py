"""Scenario's verdicts from its canary's read-back: orders it could not read are read again, then fail the RPO.

No stack: the scenario gets the synthetic environment and a canary that answers from a list.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from base.timeline import Timeline
from experiments import scenario as scenario_
from faults.journal import Journal
from probes.canary import Canary, ReadBack
from stack.handles import ReferenceStack
from tests.reports import synthetic


class ReadBackCanary:
    """Stands in for probes.canary.Canary: remembers how it was asked to read back, answers ``answer``."""

    def __init__(self, answer: ReadBack) -> None:
        self.answer = answer
        self.asked: list[tuple[float, float]] = []
        self.acks: list[Any] = []
        self.attempts: list[Any] = []

    def read_back(self, retry_for_s: float = 0.0, pause_s: float = 1.0) -> ReadBack:
        self.asked.append((retry_for_s, pause_s))
        return self.answer


def _scenario(canary: ReadBackCanary, tmp_path: Path) -> scenario_.Scenario:
    scenario = scenario_.Scenario("chaos", synthetic.environment(), cast(ReferenceStack, None), lambda *_: None,
                                  ("127.0.0.1", 53), Journal("chaos", tmp_path), Timeline("chaos", synthetic.SCALE))
    scenario.canary = cast(Canary, canary)
    return scenario


def test_orders_not_read_back_fail_the_verdict_after_a_bounded_retry(tmp_path: Path) -> None:
    canary = ReadBackCanary(ReadBack(acknowledged=2, missing=(), unreadable=("c-1: HTTP 500", "c-2: HTTP 500")))
    scenario = _scenario(canary, tmp_path)

    verdict = scenario.judge_invariants("chaos_schedules", [])

    # read again for READ_BACK_RETRY_AWS_S (scaled), once per sample interval, before the RPO is called unknown
    assert canary.asked == [(scenario.timescale.to_wall(scenario_.READ_BACK_RETRY_AWS_S), scenario.interval_s)]
    assert not verdict.passed and verdict.rpo is not None and verdict.rpo.aws_s is None
    assert verdict.messages[0].startswith("RPO unknown > 0 s SLO: 2 of 2 acknowledged orders could not be read back")
    result = scenario.result("chaos schedules")
    assert result.read_back is canary.answer
