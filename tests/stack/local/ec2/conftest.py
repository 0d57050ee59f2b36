"""Fixtures for the EC2 tests: real PostgreSQL servers, a tiny nameserver, checkout processes.

Addresses are unique per test process (hence per xdist worker), derived from the pid, in
127.120.0.0-127.149.255.255, a range no stack instance uses.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from stack.local.ec2.process import CheckoutProcess, checkout_zygote
from stack.local.zygote.client import Zygote

from . import postgres
from .nameserver import Nameserver
from .rig import Rig


@pytest.fixture(scope="session")
def address_base() -> str:
    """127.A.B (the first three octets) for this test process."""
    pid = os.getpid()
    return f"127.{120 + pid % 30}.{(pid // 30) % 250}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    reason = postgres.available()
    if reason:
        pytest.skip(reason)
    cluster = postgres.Cluster()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def rig(pg_cluster: postgres.Cluster, address_base: str) -> Iterator[Rig]:
    with Rig(pg_cluster, address_base) as r:
        yield r


@pytest.fixture
def database(rig: Rig) -> postgres.Server:
    return rig.start_database()


@pytest.fixture
def nameserver(rig: Rig, database: postgres.Server) -> Nameserver:
    return rig.nameserver(database.address)


@pytest.fixture
def checkout(rig: Rig, nameserver: Nameserver) -> CheckoutProcess:
    return rig.start_checkout(nameserver)


@pytest.fixture(scope="module")
def shared(pg_cluster: postgres.Cluster, address_base: str) -> Iterator[tuple[CheckoutProcess, postgres.Server]]:
    """One checkout and database for a module's read-mostly tests."""
    with Rig(pg_cluster, address_base) as r:
        database = r.start_database()
        yield r.start_checkout(r.nameserver(database.address)), database


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gd-ec2-proc-"))  # short: Unix socket paths are limited to 108 bytes
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def zygote(workdir: Path) -> Iterator[Zygote]:
    made = checkout_zygote(workdir / "z.sock", workdir / "z.log")
    try:
        yield made
    finally:
        made.stop()
