"""Backups against real PostgreSQL: WAL shipping gives LatestRestorableTime; PITR restores exactly."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest

from stack.local.rds.archive import BackupStore, create_admin_database
from stack.local.rds.errors import PostgresError
from stack.local.rds.nodeconfig import NodeOptions
from stack.local.rds.postgres import Node


def test_point_in_time_restore_holds_exactly_the_commits_up_to_the_time(
        storage: Path, make_node: Callable[[str], Node]) -> None:
    store = BackupStore(storage / "backups")
    store.prepare()
    primary = make_node("p")
    primary.init()
    primary.start(NodeOptions(archiving=store.archiving()))
    create_admin_database(primary)
    primary.query("CREATE TABLE orders (id int)")
    store.take_base_backup(primary)
    primary.query("INSERT INTO orders VALUES (1)")
    between = primary.now()
    primary.query("INSERT INTO orders VALUES (2)")
    latest = store.ship(primary)
    primary.query("INSERT INTO orders VALUES (3)")  # after LatestRestorableTime: in no restore below

    assert between < latest
    first = make_node("r1")
    store.restore(first, between, NodeOptions())
    assert first.query("SELECT id FROM orders ORDER BY id") == [[1]]
    assert not first.in_recovery()  # promoted at the target: a writable new instance
    first.query("INSERT INTO orders VALUES (10)")

    second = make_node("r2")
    store.restore(second, latest, NodeOptions())
    assert second.query("SELECT id FROM orders ORDER BY id") == [[1], [2]]


def test_restore_before_the_first_base_backup_is_refused(storage: Path, make_node: Callable[[str], Node]) -> None:
    store = BackupStore(storage / "backups")
    store.prepare()
    primary = make_node("p")
    primary.init()
    primary.start(NodeOptions(archiving=store.archiving()))
    backup = store.take_base_backup(primary)

    with pytest.raises(PostgresError, match="no base backup"):
        store.restore(make_node("r"), backup.consistent_at - timedelta(seconds=5), NodeOptions())
