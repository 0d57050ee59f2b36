"""Longest experiments first under pytest-xdist, by the durations earlier runs recorded (gameday.ordering)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from gameday.ordering import CACHE_KEY, longest_first, split

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

ABCD = {"test_a.py::test_x": 1.0, "test_b.py::test_x": 2.0, "test_c.py::test_x": 30.0, "test_d.py::test_x": 40.0}


def _record(pytester: pytest.Pytester, durations: dict[str, float]) -> None:
    """What an earlier run would have recorded in the project's pytest cache."""
    cache = pytester.path / ".pytest_cache" / "v" / CACHE_KEY
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(durations))


def _experiments_noting_their_worker(pytester: pytest.Pytester, *names: str) -> None:
    for name in names:
        pytester.makepyfile(**{f"test_{name}": f"""
            import os
            def test_x(scenario):
                with open("ran.txt", "a") as out:
                    out.write(os.environ["PYTEST_XDIST_WORKER"] + " {name}\\n")
        """})


def _ran_by_worker(pytester: pytest.Pytester) -> dict[str, list[str]]:
    by_worker: dict[str, list[str]] = {}
    for line in (pytester.path / "ran.txt").read_text().splitlines():
        worker, name = line.split()
        by_worker.setdefault(worker, []).append(name)
    return by_worker


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


def test_a_recorded_run_is_planned_and_each_worker_keeps_pytests_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    _experiments_noting_their_worker(pytester, "a", "b", "c", "d")
    _record(pytester, ABCD)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=4)
    by_worker = _ran_by_worker(pytester)
    # Every test is recorded, so each worker gets its share at the start: the longest alone, the rest in
    # pytest's order on the other (xdist's own scheduler would have given d and c, the two longest, to one worker).
    assert sorted(by_worker.values()) == [["a", "b", "c"], ["d"]]


def test_a_crashed_workers_remaining_share_still_runs(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    for name, body in (("a", "os._exit(3)"), ("b", "pass"), ("c", "pass"), ("d", "pass")):
        pytester.makepyfile(**{f"test_{name}": f"""
            import os
            def test_x(scenario):
                {body}
        """})
    _record(pytester, ABCD)
    # a, b and c are one worker's share: a takes the worker down; a restarted worker runs b and c.
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=3, failed=1)


def test_exitfirst_stops_the_other_workers_share_after_what_it_has_queued(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    bodies = {
        "d": 'open("d_failed", "w").close(); assert False',  # the only test of its worker's share
        # a runs on the other worker until d has failed and the controller has had a second to stop the run.
        "a": 'import time\n    deadline = time.monotonic() + 20\n'
             '    while not os.path.exists("d_failed") and time.monotonic() < deadline:\n'
             '        time.sleep(0.05)\n    time.sleep(1)',
        "b": "pass", "c": "pass"}
    for name, body in bodies.items():
        pytester.makepyfile(**{f"test_{name}": f"""
import os
def test_x(scenario):
    with open("ran.txt", "a") as out:
        out.write("{name}\\n")
    {body}
"""})
    _record(pytester, ABCD)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "-x")
    ran = sorted((pytester.path / "ran.txt").read_text().split())
    # a, b and c are one share, sent two at a time: a and b were queued when d failed; c was never sent.
    assert "c" not in ran and {"a", "d"} <= set(ran), ran


def test_a_run_with_a_test_never_recorded_is_left_to_xdist(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    _experiments_noting_their_worker(pytester, "a", "b", "c", "d")
    pytester.makepyfile(test_plain="def test_plain(): pass")
    _record(pytester, ABCD)
    pytester.runpytest_subprocess("-n", "2", "-p", "xdist").assert_outcomes(passed=5)
    by_worker = _ran_by_worker(pytester)
    # xdist's load scheduling: two consecutive tests of the (longest-first) collection to each worker.
    assert ["d", "c"] in by_worker.values()


FIVE = {"test_evacuation.py::test_x": 23.2, "test_fis.py::test_x": 23.1, "test_az.py::test_x": 21.5,
        "test_dns.py::test_x": 15.2, "test_rds.py::test_x": 14.5}


def _loads(collection: list[str], shares: list[list[int]], durations: dict[str, float]) -> list[float]:
    return [round(sum(durations[collection[i]] for i in share), 2) for share in shares]


def test_the_split_minimises_the_busiest_worker_where_longest_first_would_not() -> None:
    collection = list(FIVE)
    shares = split(collection, FIVE, 2)
    assert shares is not None
    # Longest first to the least loaded worker gives 52.9 s and 44.6 s; the best split is 46.3 and 51.2.
    assert sorted(_loads(collection, shares, FIVE)) == [46.3, 51.2]
    assert sorted(i for share in shares for i in share) == list(range(5))  # every test once


def test_a_module_stays_on_one_worker_and_keeps_its_order() -> None:
    durations = {"test_a.py::test_1": 10.0, "test_a.py::test_2": 10.0, "test_b.py::test_x": 10.0,
                 "test_c.py::test_x": 10.0}
    collection = list(durations)
    shares = split(collection, durations, 2)
    assert shares is not None
    # Split test by test, the best would put one of test_a's tests on each worker; whole, test_a is one share.
    assert sorted(shares) == [[0, 1], [2, 3]]


def test_many_modules_are_split_longest_first_to_the_least_loaded() -> None:
    durations = {f"test_{n:02d}.py::test_x": float(n) for n in range(1, 21)}  # 4**20 splits: too many to try
    collection = list(durations)
    shares = split(collection, durations, 4)
    assert shares is not None
    loads = _loads(collection, shares, durations)
    assert sorted(loads) == [51.0, 52.0, 53.0, 54.0]  # 210 s over four: within 1.5 s of an even share
    for share in shares:  # each worker runs its share in collection order, as a serial run did
        assert share == sorted(share)


def test_each_worker_runs_its_share_in_collection_order() -> None:
    """Not longest first: the FIS experiment (collected before the RDS one) runs before the experiment that
    leaves the database's primary in the other AZ, as it did in the serial run that recorded them."""
    durations = {"test_az.py::test_x": 21.0, "test_evacuation.py::test_x": 24.0, "test_fis.py::test_x": 12.0,
                 "test_rds.py::test_x": 16.5, "test_route53.py::test_x": 15.3}
    collection = list(durations)
    shares = split(collection, durations, 2)
    assert shares is not None
    assert sorted(shares) == [[0, 1], [2, 3, 4]]


def test_no_split_unless_every_test_was_recorded() -> None:
    assert split(list(FIVE) + ["test_new.py::test_x"], FIVE, 2) is None
    assert split([], FIVE, 2) is None
