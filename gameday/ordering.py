"""Under pytest-xdist, experiments start longest first, by the durations earlier runs recorded.

xdist's default scheduler hands each worker a few consecutive tests in collection order and the rest to
whichever worker frees up first. Experiments run for tens of seconds each, so a worker that draws the
longest one last keeps the whole run waiting for it: the failover suite collected in file order put the
Region evacuation (about 40 s) last. Starting the longest first (the classic longest-processing-time
rule) balances the workers.

Every run records how long each experiment's test call took (in pytest's cache, ``.pytest_cache``); a
distributed run orders by those figures. The call alone is recorded, not its setup: setup holds whichever
session fixture the test happened to be first to need (each worker's first experiment builds its stack).
Experiments (tests that use the ``scenario`` fixture) move as whole modules, so a module's fixtures stay
together; every other test keeps its place. With no recorded durations, or with the cache off
(``-p no:cacheprovider``), the order is pytest's.
"""
from __future__ import annotations

import statistics

import pytest

CACHE_KEY = "gameday/experiment_call_s"
EXPERIMENT = "gameday_experiment"  # a keyword on each experiment's item, so its reports carry it to the controller
SCENARIO_FIXTURES = ("scenario", "gameday_scenario")


def recorded_durations(cache: pytest.Cache) -> dict[str, float]:
    """What earlier runs recorded (node id -> call seconds); anything else found under the key is ignored."""
    recorded = cache.get(CACHE_KEY, {})
    if not isinstance(recorded, dict):
        return {}
    return {k: float(v) for k, v in recorded.items() if isinstance(v, (int, float))}


def is_experiment(item: pytest.Item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in SCENARIO_FIXTURES)


def longest_first(items: list[pytest.Item], durations: dict[str, float]) -> list[pytest.Item]:
    """``items`` with the experiments' modules reordered by their recorded total, longest first.

    Experiments keep the positions experiments had; within a module, the order is pytest's. A module with
    no recorded duration counts as the average one. Ties keep pytest's order.
    """
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        if is_experiment(item):
            modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    known = [durations[item.nodeid] for group in modules.values() for item in group if item.nodeid in durations]
    if not known:
        return items
    typical = statistics.fmean(known)

    def total(group: list[pytest.Item]) -> float:
        return sum(durations.get(item.nodeid, typical) for item in group)

    reordered = iter([item for group in sorted(modules.values(), key=total, reverse=True) for item in group])
    return [next(reordered) if is_experiment(item) else item for item in items]


@pytest.hookimpl(trylast=True)  # after deselection (-m, -k): order what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_experiment(item):
            item.keywords[EXPERIMENT] = 1
    cache = getattr(config, "cache", None)
    # Only an xdist worker reorders: serially the order changes nothing, and every worker reads the same
    # cache, so all of them collect the same order (xdist refuses workers whose collections differ).
    if cache is None or not hasattr(config, "workerinput"):
        return
    items[:] = longest_first(items, recorded_durations(cache))


def pytest_configure(config: pytest.Config) -> None:
    # The controller, or a serial run, records: workers send it their reports.
    if getattr(config, "cache", None) is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(DurationRecorder(config.cache), "gameday-experiment-durations")


class DurationRecorder:
    """Keeps each experiment's call duration and merges them into the cache when the session ends."""

    def __init__(self, cache: pytest.Cache) -> None:
        self.cache = cache
        self.recorded: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and EXPERIMENT in report.keywords and not report.skipped:
            self.recorded[report.nodeid] = round(report.duration, 2)

    def pytest_sessionfinish(self) -> None:
        if self.recorded:
            self.cache.set(CACHE_KEY, {**recorded_durations(self.cache), **self.recorded})
