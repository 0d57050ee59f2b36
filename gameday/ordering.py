"""Under pytest-xdist, experiments are shared out by the durations earlier runs recorded.

Every run records how long each experiment's test call took (in pytest's cache, ``.pytest_cache``). The call
alone is recorded, not its setup: setup holds whichever session fixture the test happened to be first to need
(each worker's first experiment builds its stack). Experiments (tests that use the ``scenario`` fixture) move as
whole modules, so a module's fixtures stay together.

Two things use those figures:
- **The split, when a distributed run is recorded experiments only** (``pytest -m failover -n 2`` after one
  run). xdist's load scheduler cannot balance a handful of long tests: it hands each worker two consecutive
  tests, longest first the two longest to the same worker, and the next one to the first worker done with its
  first test. ``PlannedScheduling`` instead plans each worker's share at the start: the split whose busiest
  worker has the least recorded time (every split is tried when there are few; else longest first to the
  least loaded worker). Each worker runs its share in pytest's order, the order a serial run records in.
- **The order, in any other distributed run** (a test never recorded, another ``--dist``), which xdist
  schedules: on each worker, experiments start longest first; every other test keeps its place.

With no recorded durations, or with the cache off (``-p no:cacheprovider``), the order and split are pytest's
and xdist's.
"""
from __future__ import annotations

import itertools
import statistics
from typing import Any

import pytest

CACHE_KEY = "gameday/experiment_call_s"
EXPERIMENT = "gameday_experiment"  # a keyword on each experiment's item, so its reports carry it to the controller
SCENARIO_FIXTURES = ("scenario", "gameday_scenario")
DIST_KEY = "gameday_dist"  # in a worker's workerinput: the controller's --dist
EXHAUSTIVE_SPLITS = 50_000  # up to this many ways to split modules over workers, every one is tried


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
    durations = recorded_durations(cache)
    planned = config.workerinput.get(DIST_KEY) == "load"
    if planned and all_recorded([item.nodeid for item in items], durations):
        return  # PlannedScheduling splits this run, and each worker keeps pytest's order (see split)
    items[:] = longest_first(items, durations)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker the run's ``--dist``: xdist sets a worker's own to "no"."""
    node.workerinput[DIST_KEY] = node.config.getvalue("dist")


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


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def all_recorded(collection: list[str], durations: dict[str, float]) -> bool:
    """Whether ``split`` plans this collection: it is not empty, and every test in it has a recorded duration."""
    return bool(collection) and all(nodeid in durations for nodeid in collection)


def split(collection: list[str], durations: dict[str, float], workers: int) -> list[list[int]] | None:
    """Indices into ``collection`` for each worker, or None unless every test in it has a recorded duration.

    Modules stay whole. The split minimises the busiest worker's recorded time. Each worker runs its share in
    collection order: a share takes as long in any order, except that experiments leave state for the next.
    RDS does not fail the orders database back, so the FIS experiment first fails it back into the AZ its
    template darkens when an earlier experiment left it in the other one (12 s at the default time_scale).
    Longest first put it after the Multi-AZ experiment; in collection order each worker's experiments follow
    one another as in the serial run that recorded them.
    """
    if workers < 1 or not all_recorded(collection, durations):
        return None
    modules: dict[str, list[int]] = {}
    for index, nodeid in enumerate(collection):
        modules.setdefault(module_of(nodeid), []).append(index)
    totalled = sorted(((sum(durations[collection[i]] for i in group), group) for group in modules.values()),
                      key=lambda pair: -pair[0])
    totals, groups = [total for total, _ in totalled], [group for _, group in totalled]
    # Longest first, each to the least loaded worker (the classic LPT rule)...
    assignment, loads = [], [0.0] * workers
    for total in totals:
        worker = loads.index(min(loads))
        assignment.append(worker)
        loads[worker] += total
    # ...then, while the number of splits is small, the best of all of them (LPT can miss it by a module).
    if workers ** len(groups) <= EXHAUSTIVE_SPLITS:
        best = max(loads)
        for candidate in itertools.product(range(workers), repeat=len(groups)):
            candidate_loads = [0.0] * workers
            for worker, total in zip(candidate, totals, strict=True):
                candidate_loads[worker] += total
            if max(candidate_loads) < best - 1e-9:
                best, assignment = max(candidate_loads), list(candidate)
    shares: list[list[int]] = [[] for _ in range(workers)]
    for worker, group in zip(assignment, groups, strict=True):
        shares[worker].extend(group)
    return [sorted(share) for share in shares]


def make_planned_scheduling(config: pytest.Config, log: Any, durations: dict[str, float]) -> Any:
    from xdist.scheduler import LoadScheduling

    class PlannedScheduling(LoadScheduling):  # type: ignore[misc]  # xdist ships no types
        """xdist's load scheduling, except that a run of recorded experiments gets the split ``split`` plans.

        Each worker's share is its plan, sent as xdist sends work: two tests queued at a time (a worker must
        know its next test), topped up as each one completes. So ``-x`` stops a worker after what it has queued,
        and a crashed worker's unsent plan goes back to the pending tests that xdist hands out.
        """

        collection: Any
        maxschedchunk: int | None

        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self.plans: dict[Any, list[int]] = {}

        @property
        def has_pending(self) -> bool:
            return any(self.plans.values()) or bool(super().has_pending)

        @property
        def tests_finished(self) -> bool:
            return not any(self.plans.values()) and bool(super().tests_finished)

        def schedule(self) -> None:
            collections = list(self.node2collection.values())
            if self.collection is None and self.collection_is_completed and collections \
                    and all(c == collections[0] for c in collections):
                shares = split(list(collections[0]), durations, len(self.nodes))
                if shares is not None:
                    self.collection = collections[0]
                    self.pending[:] = []
                    if self.maxschedchunk is None:  # as xdist's schedule() sets it: used when tests are resent
                        self.maxschedchunk = len(self.collection)
                    self.plans = dict(zip(self.nodes, shares, strict=True))
                    for node in self.nodes:
                        self.check_schedule(node)
                    return
            super().schedule()

        def check_schedule(self, node: Any, duration: float = 0) -> None:
            plan = self.plans.get(node)
            if plan and not node.shutting_down:
                wanted = 2 - len(self.node2pending[node])
                if wanted > 0:
                    sent, plan[:] = plan[:wanted], plan[wanted:]
                    self.node2pending[node].extend(sent)
                    node.send_runtest_some(sent)
                if plan:
                    return
            # Plan done (or none): xdist's own rule, which hands out any pending test or shuts the worker down.
            super().check_schedule(node, duration)

        def remove_node(self, node: Any) -> Any:
            self.pending.extend(self.plans.pop(node, []))  # a crashed worker's unsent plan: anyone's now
            return super().remove_node(node)

    return PlannedScheduling(config, log)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: only called when xdist runs the session
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    cache = getattr(config, "cache", None)
    if config.getvalue("dist") != "load" or cache is None:
        return None
    durations = recorded_durations(cache)
    return make_planned_scheduling(config, log, durations) if durations else None
