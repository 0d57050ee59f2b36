"""Monitor work cut short by DeleteDBInstance (log shipping, say) is not a failure of RDS; any other failure still is."""
from __future__ import annotations

import logging
from typing import Any, cast

from stack.local.rds.database import Database
from stack.local.rds.errors import PostgresError
from stack.local.rds.fleet import Fleet


def database() -> Database:
    unused = cast(Any, None)
    return Database("orders", "us-east-1", "arn:aws:rds:us-east-1:123456789012:db:orders", "orders.example",
                    unused, unused, unused, unused, unused, lambda _: None, logging.getLogger("test"))


def ship_cancelled() -> None:
    raise PostgresError("shipping WAL of node orders-us-east-1a was cancelled (the instance is stopping)")


def test_work_about_an_instance_being_deleted_ends_quietly() -> None:
    fleet, orders = Fleet(logging.getLogger("test")), database()
    orders.stopping.set()  # what DeleteDBInstance does first, which cancels a ship in progress
    fleet.run("ship logs orders", ship_cancelled, None, about=orders)
    fleet.join(5)
    assert fleet.problems({}) == []


def test_work_about_a_running_instance_that_fails_degrades_the_part() -> None:
    fleet = Fleet(logging.getLogger("test"))
    fleet.run("ship logs orders", ship_cancelled, None, about=database())
    fleet.join(5)
    assert fleet.problems({}) == ["RDS ship logs orders failed: PostgresError: shipping WAL of node "
                                  "orders-us-east-1a was cancelled (the instance is stopping)"]
