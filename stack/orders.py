"""The orders as a user of the database reads them: through an RDS endpoint, with the master credentials.

The endpoint's name is resolved at the DNS server the environment's clients use (the local stack's
server, or the system resolver on AWS), the credentials come from the stack's Secrets Manager secret,
and the rows are read over PostgreSQL's wire protocol: the same path on the local stack and on AWS.
Used to find acknowledged writes that live only on a copy that is not the writer (a split brain), and
to copy them back to the writer before that copy is replaced.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import dns.exception
import dns.resolver

from base.clients import ClientFactory
from base.errors import BuildError

if TYPE_CHECKING:
    import pg8000.native

T = TypeVar("T")
TABLE = "orders"  # the checkout service's table; every order has a uuid ``order_id`` primary key
KEY = "order_id"
CONNECT_TIMEOUT_S = 5.0
READ_DEADLINE_S = 30.0  # a writer whose Region has just come back may reset connections for a while
# SQLSTATEs worth another attempt: connection exceptions, shutdown or start-up in progress.
_TRANSIENT = ("08", "57P01", "57P02", "57P03")
EXTRA = "postgres"  # the optional dependency that brings the driver (pyproject.toml)


def _driver() -> ModuleType:
    """pg8000, imported on first use: the core install (the AWS path) has no PostgreSQL driver, and only
    reading orders needs one. Raises BuildError saying how to install it, which callers report as unread."""
    try:
        import pg8000.exceptions
        import pg8000.native
    except ModuleNotFoundError as error:
        raise BuildError(f"reading orders through an RDS endpoint needs the PostgreSQL driver pg8000, which is "
                         f"not installed: pip install 'gameday[{EXTRA}]'") from error
    driver: ModuleType = pg8000  # pg8000 has no type hints: name the module's type here, once
    return driver


def _errors() -> tuple[type[BaseException], ...]:
    """The driver's connection and server errors (the driver is imported by then)."""
    exceptions = _driver().exceptions
    return exceptions.InterfaceError, exceptions.DatabaseError


@dataclass(frozen=True)
class Copy:
    """One database instance to read orders from."""

    identifier: str
    region: str
    endpoint: str
    port: int
    database: str
    secret_id: str
    secret_region: str


@dataclass(frozen=True)
class OrphanedOrder:
    """An acknowledged order that exists on ``copy`` and not on the writer."""

    order_id: str
    client_order_id: str | None
    created_at: str
    copy: str  # identifier of the copy holding it


def resolve(name: str, nameserver: tuple[str, int] | None) -> str:
    """The IPv4 address of ``name``, asked of ``nameserver`` (host, port), or of the system resolver when None."""
    if nameserver is None:
        return str(socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [nameserver[0]], nameserver[1]
    resolver.timeout = resolver.lifetime = 3.0
    try:
        return str(resolver.resolve(name, "A")[0].address)
    except dns.exception.DNSException as error:
        raise BuildError(f"{name} does not resolve at {nameserver[0]}:{nameserver[1]}: {error}") from error


def copy_of(clients: ClientFactory, described: dict[str, Any], region: str, secret_id: str,
            secret_region: str) -> Copy:
    endpoint = described.get("Endpoint") or {}
    if not endpoint.get("Address"):
        raise BuildError(f"{described['DBInstanceIdentifier']} ({region}) has no endpoint yet "
                         f"(status {described.get('DBInstanceStatus')}); its orders cannot be read")
    return Copy(described["DBInstanceIdentifier"], region, endpoint["Address"], int(endpoint.get("Port", 5432)),
                described.get("DBName") or "postgres", secret_id, secret_region)


def connect(clients: ClientFactory, copy: Copy, nameserver: tuple[str, int] | None) -> pg8000.native.Connection:
    """A connection to ``copy`` as its master user. Raises BuildError naming the copy when it cannot be opened."""
    driver = _driver()
    connection_errors: tuple[type[BaseException], ...] = (OSError, *_errors())
    secret = json.loads(clients("secretsmanager", copy.secret_region).get_secret_value(
        SecretId=copy.secret_id)["SecretString"])
    try:
        return driver.native.Connection(secret["username"], password=secret["password"],
                                        host=resolve(copy.endpoint, nameserver), port=copy.port,
                                        database=copy.database, timeout=CONNECT_TIMEOUT_S)
    except connection_errors as error:
        raise BuildError(f"cannot read the orders of {copy.identifier} ({copy.region}) through "
                         f"{copy.endpoint}:{copy.port}: {error}") from error


def _transient(error: BaseException) -> bool:
    interface_error, database_error = _errors()
    if isinstance(error, (OSError, interface_error)):
        return True
    detail = error.args[0] if isinstance(error, database_error) and error.args else None
    return isinstance(detail, dict) and str(detail.get("C", "")).startswith(_TRANSIENT)


def with_connections(clients: ClientFactory, copies: list[Copy], nameserver: tuple[str, int] | None,
                     work: Callable[..., T], deadline_s: float = READ_DEADLINE_S) -> T:
    """``work(*connections)`` on fresh connections to ``copies``, retried on connection failures until
    ``deadline_s`` (``work`` must be safe to repeat). Raises BuildError naming the copy after the deadline."""
    deadline = time.monotonic() + deadline_s
    # _errors() raises BuildError at once when the driver is missing.
    failures: tuple[type[BaseException], ...] = (BuildError, OSError, *_errors())
    while True:
        opened: list[pg8000.native.Connection] = []
        try:
            for copy in copies:
                opened.append(connect(clients, copy, nameserver))
            return work(*opened)
        except failures as error:
            cause = error.__cause__ if isinstance(error, BuildError) and error.__cause__ else error
            if not _transient(cause) or time.monotonic() >= deadline:
                if isinstance(error, BuildError):
                    raise
                raise BuildError(f"reading the orders of {', '.join(c.identifier for c in copies)} failed: {error}") from error
            time.sleep(1.0)
        finally:
            for connection in opened:
                try:
                    connection.close()
                except Exception:
                    pass  # already broken


def _has_table(connection: pg8000.native.Connection) -> bool:
    return bool(connection.run("SELECT to_regclass(:t) IS NOT NULL", t=TABLE)[0][0])


def _keys(connection: pg8000.native.Connection) -> set[str]:
    if not _has_table(connection):
        return set()
    return {str(row[0]) for row in connection.run(f"SELECT {KEY} FROM {TABLE}")}


def orphaned(writer: pg8000.native.Connection, copy: pg8000.native.Connection, copy_name: str) -> list[OrphanedOrder]:
    """Orders on ``copy`` that the writer does not have, oldest first."""
    if not _has_table(copy):
        return []
    missing = sorted(_keys(copy) - _keys(writer))
    if not missing:
        return []
    rows = copy.run(f"SELECT {KEY}, client_order_id, created_at FROM {TABLE} WHERE {KEY}::text = ANY(:ids) "
                    f"ORDER BY created_at", ids=missing)
    return [OrphanedOrder(str(r[0]), r[1], r[2].isoformat() if hasattr(r[2], "isoformat") else str(r[2]), copy_name)
            for r in rows]


def _table_definition(copy: pg8000.native.Connection) -> str:
    """CREATE TABLE for the writer, as the copy defines it (columns, defaults, constraints): a writer that never
    took an order before the evacuation has no table yet."""
    columns = copy.run("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                       "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
                       "ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = CAST(:t AS regclass) "
                       "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", t=TABLE)
    constraints = copy.run("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid = CAST(:t AS regclass) ORDER BY conname", t=TABLE)
    parts = [f'"{name}" {kind}' + (" NOT NULL" if not_null else "") + (f" DEFAULT {default}" if default else "")
             for name, kind, not_null, default in columns]
    parts += [f'CONSTRAINT "{name}" {definition}' for name, definition in constraints]
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(parts)})"


def copy_back(writer: pg8000.native.Connection, copy: pg8000.native.Connection,
              orders: list[OrphanedOrder]) -> list[str]:
    """Insert ``orders`` into the writer, row for row (every column). Returns the ids that could not be
    copied, each with why (another order holds the same unique value): those must not be discarded."""
    if not orders:
        return []
    if not _has_table(writer):
        writer.run(_table_definition(copy))
    rows = copy.run(f"SELECT * FROM {TABLE} WHERE {KEY}::text = ANY(:ids)", ids=[o.order_id for o in orders])
    columns = [c["name"] for c in copy.columns or []]
    names = ", ".join(columns)
    values = ", ".join(f":c{i}" for i in range(len(columns)))
    refused = []
    for row in rows:
        inserted = writer.run(f"INSERT INTO {TABLE} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING RETURNING {KEY}",
                              **{f"c{i}": value for i, value in enumerate(row)})
        if not inserted:
            key = str(row[columns.index(KEY)])
            if not writer.run(f"SELECT 1 FROM {TABLE} WHERE {KEY}::text = :k", k=key):
                refused.append(f"{key}: a different order on the writer holds one of its unique values")
    return refused
