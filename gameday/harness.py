"""The experiment harness as fixtures: ``gameday_scenario`` (alias ``scenario``) and what it is made of.

Part of the installed pytest plugin, so an experiment file anywhere uses it with no conftest.py.

How experiments share stacks: each pytest process (each xdist worker) has one session stack, built
once; experiments in that process run one after another against it and every fault is rolled back
before the next begins. Under `pytest -n 2` the two workers run two separate local stacks
(instances 1 and 2), so their faults never meet.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from base.timeline import Timeline
from environments.model import LocalEnvironment
from experiments.scenario import Scenario
from faults.journal import Journal
from gameday import fixtures
from gameday.target import for_environment
from stack.handles import ReferenceStack

# This repository's own experiments rehearse the runbooks in its docs/runbooks.md; a project's
# experiment is its own runbook, so its report links to the experiment file.
_BUNDLED_EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


@pytest.fixture(scope="session")
def gameday_authoritative(gameday_environment: Any, gameday_local_stack: Any, gameday_aws_client: Any,
                          gameday_stack: ReferenceStack) -> tuple[str, int]:
    """Where probes ask DNS questions: the local Route 53 server, or the zone's first Route 53 name server."""
    if isinstance(gameday_environment, LocalEnvironment):
        return gameday_local_stack.dns_host, gameday_local_stack.dns_port
    zone = gameday_aws_client("route53", "us-east-1").get_hosted_zone(Id=gameday_stack.zone_id)
    return socket.gethostbyname(zone["DelegationSet"]["NameServers"][0]), 53


@pytest.fixture(scope="session")
def gameday_journal(gameday_environment: Any, gameday_local_stack: Any) -> Journal:
    """The fault journal of the environment's target: what `gameday recover` rolls back after a crash."""
    instance = gameday_local_stack.instance if gameday_local_stack is not None else None
    return Journal(for_environment(gameday_environment, instance).name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call":
        item.stash[CALL_ERROR] = call.excinfo.value if call.excinfo is not None else None
    elif call.when == "setup" and call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception):
        # A fixture set up after the scenario (an experiment's precondition) failed: the evidence says why.
        item.stash[CALL_ERROR] = call.excinfo.value
    return report


CALL_ERROR = pytest.StashKey[BaseException | None]()


def runbook_link(request: pytest.FixtureRequest) -> str:
    """Where the report's runbook link points: docs/runbooks.md for the bundled experiments, else the file."""
    path = Path(str(request.node.path)).resolve()
    if path.parent == _BUNDLED_EXPERIMENTS:
        return f"docs/runbooks.md#{path.stem}"
    try:
        return path.relative_to(request.config.rootpath.resolve()).as_posix()
    except ValueError:
        return str(path)


@pytest.fixture
def gameday_scenario(request: pytest.FixtureRequest, gameday_environment: Any, gameday_stack: ReferenceStack,
                     gameday_aws_client: Any, gameday_authoritative: tuple[str, int], gameday_journal: Journal,
                     gameday_timeline: Timeline, gameday_evidence: Any, gameday_healthy_stack: None,
                     gameday_local_stack: Any) -> Iterator[Scenario]:
    """The experiment's harness (experiments.scenario.Scenario); at teardown its result (verdict, samples,
    timeline) goes into the evidence pack.

    ``gameday_healthy_stack`` first: an experiment does not start on a degraded local stack.
    """
    local = gameday_local_stack
    current = Scenario(request.node.name, gameday_environment, gameday_stack,
                       lambda service, region: gameday_aws_client(service, region), gameday_authoritative,
                       gameday_journal, gameday_timeline,
                       nameserver=(local.dns_host, local.dns_port) if local is not None else None)
    yield current
    current.stop_publishing()  # the probes' CloudWatch metrics: send what is left
    error = request.node.stash.get(CALL_ERROR, None)
    if isinstance(error, AssertionError) and current.verdict is not None:
        error = None  # an SLO breach is a verdict, not a broken experiment
    doc = (request.node.obj.__doc__ or request.node.name).strip().splitlines()[0]
    module_doc = (request.node.module.__doc__ or "").strip().splitlines()
    title = module_doc[0].split(":")[0] + ": " + doc if module_doc else doc
    markers = tuple(sorted({m.name for m in request.node.iter_markers()}))
    gameday_evidence.submit(current.result(title, runbook=runbook_link(request), markers=markers,
                                           nodeid=request.node.nodeid, error=error))


authoritative = fixtures.alias("gameday_authoritative", "session")
journal = fixtures.alias("gameday_journal", "session")
scenario = fixtures.alias("gameday_scenario", "function")
