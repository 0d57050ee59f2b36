"""The report's runbook link of every bundled experiment lands on its section of docs/runbooks.md."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from gameday.harness import runbook_link

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("test_*.py"))
# Each section opens with an explicit anchor named after its experiment's file, then its heading.
SECTIONS = dict(re.findall(r'^<a id="([\w-]+)"></a>\n(## .+)$', (ROOT / "docs" / "runbooks.md").read_text(), re.MULTILINE))


def test_the_experiments_are_found() -> None:
    assert len(EXPERIMENTS) >= 16


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.name)
def test_the_runbook_link_of_a_bundled_experiment_has_a_section(experiment: Path) -> None:
    assert "@pytest.mark.gameday" in experiment.read_text(), f"{experiment.name} is not part of the game day"
    request = SimpleNamespace(node=SimpleNamespace(path=experiment), config=SimpleNamespace(rootpath=ROOT))
    document, _, anchor = runbook_link(cast(pytest.FixtureRequest, request)).partition("#")
    assert document == "docs/runbooks.md" and anchor == experiment.stem
    assert anchor in SECTIONS, f"docs/runbooks.md has no section <a id=\"{anchor}\"></a> for {experiment.name}"
