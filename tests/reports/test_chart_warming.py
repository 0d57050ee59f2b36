"""Charts drawn ahead of the report: the same chart of the same data is drawn once per process, and an
xdist controller draws each scenario its workers spool while the other experiments still run."""
from __future__ import annotations

import json
from concurrent import futures
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gameday.evidence_plugin import ChartWarmer
from reports import charts, html
from tests.reports.conftest import only_pack


@pytest.fixture
def document(pack_root: Path) -> dict[str, Any]:
    return json.loads((only_pack(pack_root / "out") / "evidence.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every figure drawn from now on, with nothing remembered from other tests."""
    monkeypatch.setattr(charts, "_drawn", OrderedDict())
    figures: list[object] = []
    real = charts._svg

    def counting(figure: Any) -> str:
        figures.append(figure)
        return real(figure)

    monkeypatch.setattr(charts, "_svg", counting)
    return figures


def slo_ms(document: dict[str, Any]) -> float:
    return document["run"]["slos"]["checkout_p95_latency_ms"]  # type: ignore[no-any-return]


def test_the_report_copies_what_warm_drew_and_is_the_same_bytes(document: dict[str, Any], drawn: list[object]) -> None:
    cold = html.render(document)
    assert len(drawn) >= 3  # the synthetic scenarios have charts to draw
    charts._drawn.clear()
    drawn.clear()
    for scenario in document["scenarios"]:
        html.warm(scenario, slo_ms(document))
    warmed = len(drawn)
    assert warmed >= 3
    assert html.render(document) == cold
    assert len(drawn) == warmed  # nothing drawn twice


def test_a_chart_of_changed_data_is_drawn_again(document: dict[str, Any], drawn: list[object]) -> None:
    scenario = document["scenarios"][0]
    first = charts.timeline(scenario)
    assert charts.timeline(scenario) == first and len(drawn) == 1
    scenario["samples"]["checkout"][0]["ok"] = not scenario["samples"]["checkout"][0]["ok"]
    charts.timeline(scenario)
    assert len(drawn) == 2


def test_the_controller_warms_each_spooled_scenario_once(document: dict[str, Any], drawn: list[object],
                                                          tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    for index, scenario in enumerate(document["scenarios"]):
        (spool / f"gw{index}-0000.json").write_text(json.dumps(scenario))
    (spool / "gw9-0000.json").write_text("{not json")  # a head start only: this one is left to the pack
    warmer = ChartWarmer(spool, slo_ms(document))
    try:
        warmer.pytest_runtest_logreport(SimpleNamespace(when="setup"))  # type: ignore[arg-type]
        assert warmer.seen == set()
        warmer.pytest_runtest_logreport(SimpleNamespace(when="call"))  # type: ignore[arg-type]
        warmer.pytest_runtest_logreport(SimpleNamespace(when="call"))  # type: ignore[arg-type]
        futures.wait(warmer.drawing)
        assert all(f.exception() is None for f in warmer.drawing)
    finally:
        warmer.close()
    assert warmer.seen == {p.name for p in spool.iterdir()}
    warmed = len(drawn)
    assert warmed >= 3
    html.render(document)
    assert len(drawn) == warmed
