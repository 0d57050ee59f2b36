"""The checkout API against a real PostgreSQL: health, catalog, orders, and errors that are always JSON."""
from __future__ import annotations

import json
import signal
import threading
import uuid
from typing import Any, Callable

import pytest

from base.deadline import until
from stack.local.ec2 import unixhttp
from stack.local.ec2.process import CheckoutProcess

from .. import postgres
from ..nameserver import Nameserver
from ..rig import Rig

ORDER = {"sku": "SC-TEE-001", "quantity": 2}


def post(process: CheckoutProcess, body: Any) -> unixhttp.Reply:
    return unixhttp.call(process.launch.uds, "POST", "/orders", body, timeout_s=15)


def get(process: CheckoutProcess, path: str) -> unixhttp.Reply:
    return unixhttp.call(process.launch.uds, "GET", path, timeout_s=15)


def raw(process: CheckoutProcess, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = unixhttp.UnixHTTPConnection(process.launch.uds)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    until(condition, timeout_s, what, interval_s=0.02)


def test_health_is_shallow_and_names_the_instance(checkout: CheckoutProcess, database: postgres.Server) -> None:
    database.stop()
    reply = get(checkout, "/health")
    assert reply.status == 200
    assert reply.body["status"] == "ok"
    launch = checkout.launch
    assert reply.headers["x-instance-id"] == launch.instance_id == reply.body["instance_id"]
    assert reply.headers["x-region"] == "us-east-1"
    assert reply.headers["x-availability-zone"] == "us-east-1a"


def test_deep_health_checks_the_database(checkout: CheckoutProcess, database: postgres.Server) -> None:
    reply = get(checkout, "/health/deep")
    assert reply.status == 200, reply.body
    assert reply.body["database"]["server_address"] == database.address
    assert reply.body["database"]["in_recovery"] is False

    database.stop()
    reply = get(checkout, "/health/deep")
    assert reply.status == 503
    assert reply.body["error"] == "database_unavailable"
    assert reply.body["status"] == "unhealthy"
    assert reply.headers["retry-after"] == "1"
    assert ".rds.amazonaws.com" in reply.body["message"]


def test_products_lists_the_catalog(shared: tuple[CheckoutProcess, postgres.Server]) -> None:
    checkout, _ = shared
    reply = get(checkout, "/products")
    assert reply.status == 200
    skus = [p["sku"] for p in reply.body["products"]]
    assert "SC-TEE-001" in skus and len(skus) == len(set(skus)) >= 3
    assert all(isinstance(p["price_cents"], int) and p["price_cents"] > 0 for p in reply.body["products"])


def test_order_is_written_from_the_private_address_and_read_back(checkout: CheckoutProcess,
                                                                 database: postgres.Server) -> None:
    reply = post(checkout, ORDER | {"client_order_id": "first-order", "canary_seq": 7})
    assert reply.status == 201, reply.body
    order = reply.body
    assert order["sku"] == "SC-TEE-001" and order["quantity"] == 2 and order["canary_seq"] == 7
    assert order["total_cents"] == 2 * order["unit_price_cents"]
    assert order["instance_id"] == checkout.launch.instance_id
    assert order["committed_at"] >= order["created_at"][:19]
    assert reply.headers["location"] == f"/orders/{order['order_id']}"

    rows = database.query("SELECT sku, quantity, client_order_id, instance_id FROM orders WHERE order_id = :id",
                          id=uuid.UUID(order["order_id"]))
    assert rows == [["SC-TEE-001", 2, "first-order", checkout.launch.instance_id]]
    # The service binds the instance's private address, so the database sees the instance as the client.
    clients = database.query("SELECT host(client_addr) FROM pg_stat_activity WHERE application_name = :a",
                             a=f"checkout-{checkout.launch.instance_id}")
    assert clients and {c[0] for c in clients} == {checkout.launch.private_ip}

    for path in (f"/orders/{order['order_id']}", "/orders?client_order_id=first-order"):
        read = get(checkout, path)
        assert read.status == 200, path
        assert {k: v for k, v in read.body.items()} == {k: v for k, v in order.items()
                                                         if k not in ("committed_at", "replayed")}
    listed = get(checkout, "/orders?canary_seq_from=7&canary_seq_to=7")
    assert [o["order_id"] for o in listed.body["orders"]] == [order["order_id"]]


def test_client_order_id_makes_orders_idempotent(checkout: CheckoutProcess, database: postgres.Server) -> None:
    first = post(checkout, ORDER | {"client_order_id": "retry-me"})
    again = post(checkout, ORDER | {"client_order_id": "retry-me"})
    assert (first.status, again.status) == (201, 200)
    assert again.body["order_id"] == first.body["order_id"] and again.body["replayed"] is True
    assert database.query("SELECT count(*) FROM orders WHERE client_order_id = 'retry-me'") == [[1]]

    conflict = post(checkout, {"sku": "SC-MUG-002", "quantity": 1, "client_order_id": "retry-me"})
    assert conflict.status == 409
    assert conflict.body["error"] == "idempotency_conflict" and conflict.body["field"] == "client_order_id"


@pytest.mark.parametrize(("body", "field"), [
    ({"quantity": 1}, "sku"),
    ({"sku": "NOPE", "quantity": 1}, "sku"),
    ({"sku": 5, "quantity": 1}, "sku"),
    ({"sku": "SC-TEE-001"}, "quantity"),
    ({"sku": "SC-TEE-001", "quantity": 0}, "quantity"),
    ({"sku": "SC-TEE-001", "quantity": 101}, "quantity"),
    ({"sku": "SC-TEE-001", "quantity": "2"}, "quantity"),
    ({"sku": "SC-TEE-001", "quantity": True}, "quantity"),
    ({"sku": "SC-TEE-001", "quantity": 1.5}, "quantity"),
    ({"sku": "SC-TEE-001", "quantity": 1, "client_order_id": ""}, "client_order_id"),
    ({"sku": "SC-TEE-001", "quantity": 1, "client_order_id": "has space"}, "client_order_id"),
    ({"sku": "SC-TEE-001", "quantity": 1, "canary_seq": -1}, "canary_seq"),
    ({"sku": "SC-TEE-001", "quantity": 1, "price": 0}, "price"),
])
def test_invalid_orders_are_json_422_naming_the_field(shared: tuple[CheckoutProcess, postgres.Server],
                                                      body: dict[str, Any], field: str) -> None:
    checkout, database = shared
    assert get(checkout, "/health/deep").status == 200  # connects, so the orders table exists
    before = database.query("SELECT count(*) FROM orders")
    reply = post(checkout, body)
    assert reply.status == 422, reply.body
    assert reply.body["error"] == "validation_error" and reply.body["field"] == field
    assert database.query("SELECT count(*) FROM orders") == before


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "error"), [
    ("POST", "/orders", b"{not json", {"Content-Type": "application/json"}, 400, "invalid_json"),
    ("POST", "/orders", b"\xff\xfe", {"Content-Type": "application/json"}, 400, "invalid_json"),
    ("POST", "/orders", b"[1, 2]", {"Content-Type": "application/json"}, 422, "validation_error"),
    ("POST", "/orders", json.dumps(ORDER).encode(), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ("POST", "/orders", b" " * 20000, {"Content-Type": "application/json"}, 413, "payload_too_large"),
    ("GET", "/orders/not-a-uuid", b"", {}, 400, "bad_request"),
    ("GET", f"/orders/{uuid.UUID(int=1)}", b"", {}, 404, "not_found"),
    ("GET", "/orders?client_order_id=nobody", b"", {}, 404, "not_found"),
    ("GET", "/orders", b"", {}, 400, "bad_request"),
    ("GET", "/orders?canary_seq_from=5&canary_seq_to=1", b"", {}, 400, "bad_request"),
    ("GET", "/orders?canary_seq_from=x&canary_seq_to=1", b"", {}, 400, "bad_request"),
    ("GET", "/no/such/path", b"", {}, 404, "not_found"),
    ("DELETE", "/orders", b"", {}, 405, "method_not_allowed"),
])
def test_bad_requests_get_json_errors(shared: tuple[CheckoutProcess, postgres.Server], method: str, path: str, body: bytes,
                                      headers: dict[str, str], status: int, error: str) -> None:
    got, payload = raw(shared[0], method, path, body, headers)
    assert got == status, payload
    decoded = json.loads(payload)
    assert decoded["error"] == error and decoded["message"]
    assert b"Traceback" not in payload


def test_database_down_is_503_json_and_recovers(checkout: CheckoutProcess, database: postgres.Server) -> None:
    assert post(checkout, ORDER).status == 201
    database.stop(signal.SIGQUIT)  # immediate shutdown: pooled connections break mid-stream
    reply = post(checkout, ORDER)
    assert reply.status == 503
    assert reply.body["error"] == "database_unavailable" and "orders.test-cluster" in reply.body["message"]
    assert get(checkout, "/orders/" + str(uuid.UUID(int=2))).status == 503

    database.start()
    wait_for(lambda: post(checkout, ORDER).status == 201, "an order to succeed after the database restarted")


def test_without_a_database_orders_are_503(rig: Rig, nameserver: Nameserver) -> None:
    checkout = rig.start_checkout(nameserver, with_database=False)
    for reply in (post(checkout, ORDER), get(checkout, "/health/deep")):
        assert reply.status == 503 and reply.body["error"] == "database_unavailable"
        assert "no database configured" in reply.body["message"]
    assert get(checkout, "/health").status == 200


def test_wrong_password_is_503_with_the_reason(rig: Rig, nameserver: Nameserver) -> None:
    checkout = rig.start_checkout(nameserver, password="wrong")
    reply = post(checkout, ORDER)
    assert reply.status == 503
    assert "28P01" in reply.body["message"]  # invalid_password


WAITING = "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'"


def post_until_held(checkout: CheckoutProcess, database: postgres.Server,
                    prefix: str) -> tuple[threading.Thread, list[unixhttp.Reply], str]:
    """Post orders until one's commit waits for the (never connecting) synchronous standby.

    pg_reload_conf() is asynchronous: an order may commit before the new setting reaches the commit
    path. Such an order is simply acknowledged; try again with a new id until one waits.
    """
    for attempt in range(5):
        client_order_id = f"{prefix}-{attempt}"
        replies: list[unixhttp.Reply] = []
        poster = threading.Thread(target=lambda into, order_id: into.append(post(checkout, ORDER | {"client_order_id": order_id})),
                                  args=(replies, client_order_id))
        poster.start()
        wait_for(lambda: len(database.query(WAITING)) == 1 or not poster.is_alive(),  # noqa: B023 - called right here
                 "the order's commit to wait for the synchronous standby")
        if poster.is_alive():
            return poster, replies, client_order_id
    raise AssertionError("no order's commit waited for the synchronous standby in 5 attempts")


def hold_commits(database: postgres.Server) -> None:
    """A synchronous standby that never connects holds every commit in its SyncRep wait."""
    database.query("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")
    database.query("SELECT pg_reload_conf()")


def release_commits(database: postgres.Server) -> None:
    database.query("ALTER SYSTEM RESET synchronous_standby_names")
    database.query("SELECT pg_reload_conf()")


def test_order_is_acknowledged_only_after_its_commit_returns(checkout: CheckoutProcess,
                                                             database: postgres.Server) -> None:
    assert post(checkout, ORDER).status == 201  # the pool has a connection and the table exists
    hold_commits(database)
    poster: threading.Thread | None = None
    try:
        poster, replies, held = post_until_held(checkout, database, "held")
        assert poster.is_alive() and not replies, "acknowledged before the commit returned"
        assert database.query(f"SELECT count(*) FROM orders WHERE client_order_id = '{held}'") == [[0]]
    finally:
        release_commits(database)
        if poster is not None:
            poster.join(15)
    assert replies and replies[0].status == 201
    assert database.query(f"SELECT count(*) FROM orders WHERE client_order_id = '{held}'") == [[1]]


def test_a_commit_cut_short_of_its_synchronous_standby_is_not_acknowledged(checkout: CheckoutProcess,
                                                                           database: postgres.Server) -> None:
    assert post(checkout, ORDER).status == 201
    hold_commits(database)
    poster: threading.Thread | None = None
    try:
        poster, replies, cut = post_until_held(checkout, database, "cut")
        # A cancel ends the wait: PostgreSQL keeps the local commit and only warns the client.
        database.query(f"SELECT pg_cancel_backend(pid) FROM ({WAITING}) AS w")
        poster.join(15)
    finally:
        release_commits(database)
        if poster is not None:
            poster.join(15)
    assert replies and replies[0].status == 503, replies
    assert replies[0].body["error"] == "commit_not_confirmed"
    assert database.query(f"SELECT count(*) FROM orders WHERE client_order_id = '{cut}'") == [[1]]
    # The client's retry with the same client_order_id finds the order rather than writing a second one.
    retry = post(checkout, ORDER | {"client_order_id": cut})
    assert retry.status == 200 and retry.body["replayed"] is True


def test_unknown_endpoint_name_is_503(checkout: CheckoutProcess, nameserver: Nameserver) -> None:
    nameserver.name = nameserver.name.parent()  # the endpoint's name is now NXDOMAIN
    reply = post(checkout, ORDER)
    assert reply.status == 503 and "NXDOMAIN" in reply.body["message"]
