"""Fixtures the game-day suites share: the authoritative DNS server, the fault journal, the scenario.

How experiments share stacks: each pytest process (each xdist worker) has one session stack, built
once; experiments in that process run one after another against it and every fault is rolled back
before the next begins. Under `pytest -n 2` the two workers run two separate local stacks
(instances 1 and 2), so their faults never meet.
"""
from __future__ import annotations

import socket
from typing import Any, Iterator

import pytest

from environments.model import LocalEnvironment
from experiments.scenario import Scenario
from faults.journal import Journal
from gameday.target import for_environment
from base.timeline import Timeline
from stack.handles import ReferenceStack


@pytest.fixture(scope="session")
def authoritative(environment: Any, local_stack: Any, aws_client: Any, stack: ReferenceStack) -> tuple[str, int]:
    """Where probes ask DNS questions: the local Route 53 server, or the zone's first Route 53 name server."""
    if isinstance(environment, LocalEnvironment):
        return local_stack.dns_host, local_stack.dns_port
    zone = aws_client("route53", "us-east-1").get_hosted_zone(Id=stack.zone_id)
    return socket.gethostbyname(zone["DelegationSet"]["NameServers"][0]), 53


@pytest.fixture(scope="session")
def journal(environment: Any, local_stack: Any) -> Journal:
    instance = local_stack.instance if local_stack is not None else None
    return Journal(for_environment(environment, instance).name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "call":
        item.stash[CALL_ERROR] = call.excinfo.value if call.excinfo is not None else None
    return report


CALL_ERROR = pytest.StashKey[BaseException | None]()


@pytest.fixture
def scenario(request: pytest.FixtureRequest, environment: Any, stack: ReferenceStack, aws_client: Any,
             authoritative: tuple[str, int], journal: Journal, timeline: Timeline, evidence: Any,
             healthy_stack: None, local_stack: Any) -> Iterator[Scenario]:
    """The experiment's harness; at teardown its result (verdict, samples, timeline) goes into the evidence pack.

    ``healthy_stack`` first: an experiment does not start on a degraded local stack (gameday.fixtures).
    """
    current = Scenario(request.node.name, environment, stack, lambda service, region: aws_client(service, region),
                       authoritative, journal, timeline,
                       nameserver=(local_stack.dns_host, local_stack.dns_port) if local_stack is not None else None)
    yield current
    error = request.node.stash.get(CALL_ERROR, None)
    if isinstance(error, AssertionError) and current.verdict is not None:
        error = None  # an SLO breach is a verdict, not a broken experiment
    doc = (request.node.obj.__doc__ or request.node.name).strip().splitlines()[0]  # type: ignore[attr-defined]
    module_doc = (request.node.module.__doc__ or "").strip().splitlines()  # type: ignore[attr-defined]
    title = module_doc[0].split(":")[0] + ": " + doc if module_doc else doc
    markers = tuple(sorted({m.name for m in request.node.iter_markers()}))
    evidence.submit(current.result(title, runbook=f"docs/runbooks.md#{request.node.module.__name__.rsplit('.', 1)[-1]}",
                                   markers=markers, nodeid=request.node.nodeid, error=error))
