"""Longest experiments first under pytest-xdist, by the durations earlier runs recorded (gameday.ordering)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from gameday.ordering import CACHE_KEY, longest_first

pytest_plugins = ["pytester"]

# A stand-in for the harness: experiments are the tests that use the scenario fixture.
CONFTEST = '''
import pytest
pytest_plugins = ["gameday.plugin"]

@pytest.fixture
def scenario():
    return None
'''


@dataclass
class FakeItem:
    nodeid: str
    fixturenames: list[str] = field(default_factory=list)


def _experiment(nodeid: str) -> Any:
    return FakeItem(nodeid, ["scenario"])


def _ids(items: list[Any]) -> list[str]:
    return [item.nodeid for item in items]


def test_modules_go_longest_first_and_other_tests_keep_their_places() -> None:
    items = [FakeItem("tests/test_unit.py::test_a"), _experiment("test_short.py::test_one"),
             _experiment("test_pair.py::test_first"), _experiment("test_pair.py::test_second"),
             FakeItem("tests/test_unit.py::test_b"), _experiment("test_long.py::test_one")]
    durations = {"test_short.py::test_one": 5.0, "test_pair.py::test_first": 10.0, "test_pair.py::test_second": 11.0,
                 "test_long.py::test_one": 40.0}
    assert _ids(longest_first(items, durations)) == [  # type: ignore[arg-type]
        "tests/test_unit.py::test_a", "test_long.py::test_one", "test_pair.py::test_first",
        "test_pair.py::test_second", "tests/test_unit.py::test_b", "test_short.py::test_one"]


def test_an_experiment_never_measured_counts_as_the_average_one() -> None:
    items = [_experiment("test_new.py::test_x"), _experiment("test_a.py::test_x"), _experiment("test_b.py::test_x")]
    durations = {"test_a.py::test_x": 30.0, "test_b.py::test_x": 10.0}
    # test_new counts as 20 s: between the two measured ones.
    assert _ids(longest_first(items, durations)) == [  # type: ignore[arg-type]
        "test_a.py::test_x", "test_new.py::test_x", "test_b.py::test_x"]


def test_without_recorded_durations_the_order_is_pytests() -> None:
    items = [_experiment("test_b.py::test_x"), _experiment("test_a.py::test_x")]
    assert longest_first(items, {}) == items  # type: ignore[arg-type]
    assert longest_first(items, {"elsewhere.py::test_x": 3.0}) == items  # type: ignore[arg-type]


def test_a_run_records_each_experiments_call_duration_and_nothing_else(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_runs="""
        import time
        import pytest

        @pytest.fixture
        def slow_setup():
            time.sleep(0.3)  # setup is not recorded: it holds whatever session fixture came first

        def test_experiment(scenario, slow_setup):
            time.sleep(0.1)

        def test_plain():
            time.sleep(0.1)

        def test_skipped_experiment(scenario):
            pytest.skip("not recorded")
    """)
    pytester.runpytest().assert_outcomes(passed=2, skipped=1)
    recorded = json.loads((pytester.path / ".pytest_cache" / "v" / CACHE_KEY).read_text())
    assert list(recorded) == ["test_runs.py::test_experiment"]
    assert 0.1 <= recorded["test_runs.py::test_experiment"] < 0.3
    # A later run merges its figures into what earlier runs recorded.
    pytester.makepyfile(test_more="def test_other_experiment(scenario): pass")
    pytester.runpytest("test_more.py").assert_outcomes(passed=1)
    recorded = json.loads((pytester.path / ".pytest_cache" / "v" / CACHE_KEY).read_text())
    assert sorted(recorded) == ["test_more.py::test_other_experiment", "test_runs.py::test_experiment"]


def test_xdist_workers_draw_the_longest_experiments_first(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    for name in ("a", "b", "c", "d"):
        pytester.makepyfile(**{f"test_{name}": f"""
            import os
            def test_x(scenario):
                with open("ran.txt", "a") as out:
                    out.write(os.environ["PYTEST_XDIST_WORKER"] + " {name}\\n")
        """})
    cache = pytester.path / ".pytest_cache" / "v" / CACHE_KEY
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"test_a.py::test_x": 1.0, "test_b.py::test_x": 2.0, "test_c.py::test_x": 30.0,
                                 "test_d.py::test_x": 40.0}))
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=4)
    by_worker: dict[str, list[str]] = {}
    for line in (pytester.path / "ran.txt").read_text().splitlines():
        worker, name = line.split()
        by_worker.setdefault(worker, []).append(name)
    # xdist sends each worker two consecutive tests of the collection: d and c (the longest), then b and a.
    assert sorted(by_worker.values()) == [["b", "a"], ["d", "c"]]
