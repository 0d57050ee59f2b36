"""Fixtures for the RDS data plane's tests: real PostgreSQL nodes in a throwaway storage root."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from base.deadline import until
from stack.local.rds import runner
from stack.local.rds.nodeconfig import Credentials, NodeOptions
from stack.local.rds.postgres import Node

if not (runner.PG_BIN / "postgres").exists():
    pytest.skip(f"Debian's PostgreSQL 15 is not installed at {runner.PG_BIN}", allow_module_level=True)


@pytest.fixture
def storage() -> Iterator[Path]:
    """A short, postgres-traversable directory (sockets need < 108 bytes); every server in it is stopped after."""
    root = Path(tempfile.mkdtemp(prefix=f"gdrds-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-", dir="/tmp"))
    runner.give_to_postgres(root, 0o711)
    try:
        yield root
    finally:
        for pg_version in root.glob("**/data/PG_VERSION"):
            for pid in runner.cluster_pids(pg_version.parent):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def credentials() -> Credentials:
    return Credentials("master", "s3cret'pass\\word")


@pytest.fixture
def make_node(storage: Path, credentials: Credentials) -> Iterator[object]:
    nodes: list[Node] = []

    def make(name: str) -> Node:
        node = Node(name, storage / name, credentials)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop("immediate")


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = 15.0, poll_s: float = 0.02) -> Any:
    """Poll ``condition`` until truthy (exceptions count as not yet); fail naming ``what`` after the deadline."""
    return until(condition, deadline_s, what, poll_s, ignore=(Exception,))


def streaming_pair(make_node: Callable[[str], Node], options: NodeOptions, standby: str = "s") -> tuple[Node, Node]:
    """A new primary and a standby cloned from it (named ``standby``), both started with ``options``, streaming."""
    primary, follower = make_node("p"), make_node(standby)
    primary.init()
    primary.start(options)
    follower.clone_from(primary.local)
    follower.start(options)
    follower.wait_streaming(15)
    return primary, follower
