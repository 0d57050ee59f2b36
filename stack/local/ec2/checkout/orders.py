"""The orders table: placing an order (idempotently) and reading orders back."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError

from stack.local.ec2.checkout.pool import ConnectionPool, sqlstate
from stack.local.ec2.errors import CheckoutError, CommitNotConfirmed

TABLE = "orders"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    order_id uuid PRIMARY KEY,
    client_order_id text UNIQUE,
    sku text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price_cents integer NOT NULL,
    canary_seq bigint,
    instance_id text NOT NULL,
    region text NOT NULL,
    availability_zone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)"""
COLUMNS = ("order_id, client_order_id, sku, quantity, unit_price_cents, canary_seq, "
           "instance_id, region, availability_zone, created_at")
# PostgreSQL's warning when a cancel (pg_cancel_backend; statement_timeout is off during commit)
# ends a commit's wait for its synchronous standby: the row is committed locally but not replicated,
# so a failover could lose it. Such a commit is not acknowledged.
_UNREPLICATED = "canceling wait for synchronous replication"


class IdempotencyConflict(CheckoutError):
    """The client_order_id was already used for a different order."""


@dataclass(frozen=True)
class Placement:
    """Who serves: written into every order and every response's headers."""

    instance_id: str
    region: str
    availability_zone: str


@dataclass(frozen=True)
class OrderRequest:
    sku: str
    quantity: int
    client_order_id: str | None = None
    canary_seq: int | None = None


@dataclass(frozen=True)
class Order:
    order_id: str
    client_order_id: str | None
    sku: str
    quantity: int
    unit_price_cents: int
    canary_seq: int | None
    instance_id: str
    region: str
    availability_zone: str
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: list[Any]) -> "Order":
        return cls(str(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9])

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id, "client_order_id": self.client_order_id, "sku": self.sku,
            "quantity": self.quantity, "unit_price_cents": self.unit_price_cents,
            "total_cents": self.unit_price_cents * self.quantity, "canary_seq": self.canary_seq,
            "instance_id": self.instance_id, "region": self.region, "availability_zone": self.availability_zone,
            "created_at": self.created_at.isoformat(),
        }

    def same_request(self, request: OrderRequest) -> bool:
        return (self.sku, self.quantity, self.canary_seq) == (request.sku, request.quantity, request.canary_seq)


def _notice_text(notice: dict[Any, Any]) -> str:
    # pg8000 keeps a notice's fields as raw bytes keyed by their one-byte codes (b"M" is the message).
    text = notice.get(b"M", notice.get("M", b""))
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def ensure_schema(connection: pg8000.native.Connection) -> None:
    """Create the orders table if missing (run on every new connection; cheap when it exists)."""
    # Checked first because CREATE ... IF NOT EXISTS still fails on a read-only server.
    if connection.run("SELECT to_regclass(:t) IS NOT NULL", t=TABLE)[0][0]:
        return
    try:
        connection.run(SCHEMA)
    except DatabaseError as error:
        # Two instances starting together race to create it: the loser's duplicate is harmless.
        if sqlstate(error) not in ("42P07", "23505"):
            raise


class OrderStore:
    def __init__(self, pool: ConnectionPool, placement: Placement) -> None:
        self.pool = pool
        self.placement = placement

    def place(self, request: OrderRequest, unit_price_cents: int, deadline_s: float) -> tuple[Order, bool]:
        """Insert the order and return it once its commit has returned, with whether it is new.

        The order id is chosen here, so retrying the insert on a new connection after a failure is
        safe: a retry finds its own earlier row instead of writing a second one.
        Raises IdempotencyConflict, CommitNotConfirmed or DatabaseUnavailable.
        """
        order_id = uuid.uuid4()
        placement = self.placement

        def insert(connection: pg8000.native.Connection) -> tuple[Order, bool]:
            connection.notices.clear()
            # Autocommit: the implicit transaction commits at Sync, and pg8000 returns only after
            # ReadyForQuery, which the server sends after the commit (and its synchronous
            # replication) completed. Returning from run() therefore means committed.
            rows = connection.run(
                f"INSERT INTO {TABLE} (order_id, client_order_id, sku, quantity, unit_price_cents, canary_seq, "
                f"instance_id, region, availability_zone) VALUES (:id, :cid, :sku, :qty, :price, :seq, :iid, "
                f":region, :az) ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
                id=order_id, cid=request.client_order_id, sku=request.sku, qty=request.quantity,
                price=unit_price_cents, seq=request.canary_seq, iid=placement.instance_id,
                region=placement.region, az=placement.availability_zone,
            )
            if any(_notice_text(n).startswith(_UNREPLICATED) for n in connection.notices):
                raise CommitNotConfirmed(
                    f"order {order_id}: the commit did not reach the synchronous standby before the statement "
                    f"timeout, so it is not acknowledged; retry with the same client_order_id")
            if rows:
                return Order.from_row(rows[0]), True
            existing = connection.run(
                f"SELECT {COLUMNS} FROM {TABLE} WHERE order_id = :id OR client_order_id = :cid",
                id=order_id, cid=request.client_order_id)
            if not existing:
                raise CheckoutError(f"order {order_id}: insert conflicted but no conflicting row is visible")
            order = Order.from_row(existing[0])
            if order.order_id == str(order_id):
                return order, True  # an earlier attempt of this very request committed before failing
            if not order.same_request(request):
                raise IdempotencyConflict(
                    f"client_order_id {request.client_order_id!r} was already used for order {order.order_id} "
                    f"({order.quantity} x {order.sku}); use a new client_order_id for a different order")
            return order, False

        return self.pool.run(insert, deadline_s, f"INSERT {TABLE}")

    def get(self, order_id: uuid.UUID, deadline_s: float) -> Order | None:
        rows = self.pool.run(
            lambda c: c.run(f"SELECT {COLUMNS} FROM {TABLE} WHERE order_id = :id", id=order_id), deadline_s,
            f"SELECT {TABLE}")
        return Order.from_row(rows[0]) if rows else None

    def by_client_order_id(self, client_order_id: str, deadline_s: float) -> Order | None:
        rows = self.pool.run(
            lambda c: c.run(f"SELECT {COLUMNS} FROM {TABLE} WHERE client_order_id = :cid", cid=client_order_id),
            deadline_s, f"SELECT {TABLE}")
        return Order.from_row(rows[0]) if rows else None

    def by_canary_range(self, first: int, last: int, limit: int, deadline_s: float) -> list[Order]:
        """Orders whose canary_seq is in [first, last], in sequence order (for the RPO check)."""
        rows = self.pool.run(
            lambda c: c.run(f"SELECT {COLUMNS} FROM {TABLE} WHERE canary_seq BETWEEN :lo AND :hi "
                            f"ORDER BY canary_seq, created_at LIMIT :n", lo=first, hi=last, n=limit),
            deadline_s, f"SELECT {TABLE}")
        return [Order.from_row(r) for r in rows]

    def ping(self, deadline_s: float) -> dict[str, Any]:
        """The server's view of itself; raises DatabaseUnavailable when it is unreachable."""
        row = self.pool.run(
            lambda c: c.run("SELECT pg_is_in_recovery(), host(inet_server_addr()), now()")[0], deadline_s, "SELECT")
        return {"in_recovery": bool(row[0]), "server_address": row[1], "server_time": row[2].isoformat()}
