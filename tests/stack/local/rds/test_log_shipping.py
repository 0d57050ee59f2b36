"""Log shipping cut short by DeleteDBInstance is not a failure of RDS; any other failure still is."""
from __future__ import annotations

import logging
import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest

from stack.local.rds.database import Database
from stack.local.rds.errors import PostgresError


class StallingBackups:
    """Ships WAL until told to stop, as the real store does while waiting for the archiver."""

    def __init__(self) -> None:
        self.shipping = threading.Event()
        self.next_base_backup_at = 0.0

    def take_base_backup(self, node: Any, upstream: Any) -> None:
        pass

    def ship(self, node: Any, cancel: threading.Event) -> None:
        self.shipping.set()
        if not cancel.wait(5):
            raise PostgresError("WAL was not archived in time")
        raise PostgresError("shipping WAL was cancelled (the instance is stopping)")


def database(backups: StallingBackups) -> Database:
    unused = cast(Any, None)
    instance = Database("orders", "us-east-1", "arn:aws:rds:us-east-1:123456789012:db:orders", "orders.example",
                        unused, cast(Any, SimpleNamespace(scaled=lambda s: s)), unused, unused, unused,
                        lambda _: None, logging.getLogger("test"), backups=cast(Any, backups))
    instance.status = "available"
    instance.primary = cast(Any, SimpleNamespace(node=SimpleNamespace(is_running=lambda: True)))
    instance.wiring = cast(Any, SimpleNamespace(upstream=lambda member: None))
    return instance


def test_shipping_cancelled_by_deletion_ends_quietly() -> None:
    backups = StallingBackups()
    orders = database(backups)
    errors: list[BaseException] = []

    def ship() -> None:
        try:
            orders.ship_logs()
        except BaseException as error:  # the thread's outcome, asserted below
            errors.append(error)

    shipper = threading.Thread(target=ship)
    shipper.start()
    assert backups.shipping.wait(5)
    orders.stopping.set()  # what DeleteDBInstance does first
    shipper.join(5)
    assert not shipper.is_alive()
    assert errors == []


def test_a_shipping_failure_while_running_is_raised() -> None:
    class Failing(StallingBackups):
        def ship(self, node: Any, cancel: threading.Event) -> None:
            raise PostgresError("archive_command failed")

    with pytest.raises(PostgresError, match="archive_command failed"):
        database(Failing()).ship_logs()
