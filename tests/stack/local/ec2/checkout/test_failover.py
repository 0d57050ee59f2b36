"""The checkout follows its database endpoint: re-resolution and reconnection when the name moves."""
from __future__ import annotations

import signal
import time
import uuid

from stack.local.ec2 import unixhttp

from .. import postgres
from ..rig import Rig

ORDER = {"sku": "SC-HOOD-003", "quantity": 1}
DEADLINE_S = 20.0


def orders_on(server: postgres.Server, order_ids: list[str]) -> int:
    if not server.query("SELECT to_regclass('orders') IS NOT NULL")[0][0]:
        return 0
    return server.query("SELECT count(*) FROM orders WHERE order_id = ANY(CAST(:ids AS uuid[]))",
                        ids=order_ids)[0][0]


def test_orders_continue_on_the_new_server_after_the_endpoint_moves(rig: Rig) -> None:
    old, new = rig.start_database(), rig.start_database()
    nameserver = rig.nameserver(old.address, ttl_s=1)
    checkout = rig.start_checkout(nameserver)
    first = unixhttp.call(checkout.launch.uds, "POST", "/orders", ORDER)
    assert first.status == 201 and orders_on(old, [first.body["order_id"]]) == 1
    queries_before = nameserver.queries

    old.stop(signal.SIGQUIT)  # the primary dies, as in a failover
    nameserver.point(new.address)  # and the endpoint's record moves to the new primary

    errors: list[unixhttp.Reply] = []
    deadline = time.monotonic() + DEADLINE_S
    connection = unixhttp.UnixHTTPConnection(checkout.launch.uds, timeout_s=15)
    try:
        while True:
            reply = unixhttp.request(connection, "POST", "/orders", ORDER | {"client_order_id": f"after-{len(errors)}"})
            if reply.status == 201:
                break
            errors.append(reply)
            assert time.monotonic() < deadline, f"no order succeeded within {DEADLINE_S} s; last: {reply.body}"
            time.sleep(0.05)
    finally:
        connection.close()
    assert all(e.status == 503 and e.body["error"] == "database_unavailable" for e in errors), errors
    assert nameserver.queries > queries_before
    new_id = reply.body["order_id"]
    assert new.query("SELECT count(*) FROM orders WHERE order_id = :id", id=uuid.UUID(new_id)) == [[1]]
    deep = unixhttp.call(checkout.launch.uds, "GET", "/health/deep")
    assert deep.status == 200 and deep.body["database"]["server_address"] == new.address


def test_pooled_connections_follow_the_endpoint_when_the_old_server_still_answers(rig: Rig) -> None:
    old, new = rig.start_database(), rig.start_database()
    nameserver = rig.nameserver(old.address, ttl_s=1)
    checkout = rig.start_checkout(nameserver)
    connection = unixhttp.UnixHTTPConnection(checkout.launch.uds, timeout_s=15)
    try:
        before = unixhttp.request(connection, "POST", "/orders", ORDER)
        assert before.status == 201
        nameserver.point(new.address)  # a switchover: the old server stays up and writable
        placed: list[str] = []
        deadline = time.monotonic() + DEADLINE_S
        while orders_on(new, placed) == 0:
            assert time.monotonic() < deadline, f"no order reached the new server within {DEADLINE_S} s"
            reply = unixhttp.request(connection, "POST", "/orders", ORDER)
            assert reply.status == 201, reply.body
            placed.append(reply.body["order_id"])
            time.sleep(0.05)
        # Once one order reached the new server, every later one does (no connection stays on the old).
        later = [unixhttp.request(connection, "POST", "/orders", ORDER).body["order_id"] for _ in range(20)]
    finally:
        connection.close()
    assert orders_on(new, later) == len(later) and orders_on(old, later) == 0
