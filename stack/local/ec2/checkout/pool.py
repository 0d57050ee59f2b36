"""Connections to the orders database: resolved through DNS, bounded in time, replaced when broken.

This is the behaviour of a well-written production client, which is what an RDS failover is
measured against:

- every new connection resolves the endpoint (the resolver honours the TTL), binds the instance's
  private address as its source (so the fabric sees which subnet the flow comes from), and is
  bounded by a connect timeout; every statement by ``statement_timeout`` on the server and a socket
  timeout on the client (a dropped, not reset, path must not hang a request);
- a connection that fails is discarded together with every idle one opened before it (they point at
  the same server, which is gone), and the operation is retried on a fresh connection while the
  attempts and the caller's deadline allow;
- a pooled connection whose server is no longer the one the endpoint names (after a failover) is
  retired when it is next taken, so writes follow the endpoint even if the old server still answers.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from stack.local.ec2.checkout import tracing
from stack.local.ec2.checkout.resolver import EndpointResolver
from stack.local.ec2.errors import DatabaseUnavailable, EndpointResolutionError

T = TypeVar("T")
log = logging.getLogger("gameday.ec2.checkout")

# SQLSTATEs after which the connection (or its server) is unusable: class 08 (connection exception),
# shutdown or start-up in progress, a read-only server (a demoted primary), too many connections.
_RETRY_STATES = ("08", "57P01", "57P02", "57P03", "25006", "53300")


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a pg8000 DatabaseError ('' when there is none)."""
    detail = error.args[0] if error.args else None
    return str(detail.get("C", "")) if isinstance(detail, dict) else ""


def message(error: BaseException) -> str:
    detail = error.args[0] if error.args else None
    if isinstance(detail, dict):
        return f"{detail.get('C', '')} {detail.get('M', '')}".strip()
    return str(error) or type(error).__name__


def broken(error: BaseException) -> bool:
    """Whether the error means the connection must be replaced (and the operation may be retried)."""
    if isinstance(error, (InterfaceError, OSError)):
        return True
    if isinstance(error, DatabaseError):
        return sqlstate(error).startswith(_RETRY_STATES)
    return False


@dataclass(frozen=True)
class DatabaseSettings:
    endpoint: str
    port: int
    user: str
    password: str
    database: str
    application_name: str
    source_address: str | None = None
    connect_timeout_s: float = 2.0
    statement_timeout_s: float = 5.0
    pool_size: int = 8
    attempts: int = 3


@dataclass
class _Pooled:
    connection: pg8000.native.Connection
    address: str
    generation: int


class ConnectionPool:
    """A bounded pool of pg8000 connections; ``run`` is called from worker threads."""

    def __init__(self, settings: DatabaseSettings, resolver: EndpointResolver,
                 on_connect: Callable[[pg8000.native.Connection], None] | None = None) -> None:
        self.settings = settings
        self.resolver = resolver
        self._on_connect = on_connect
        self._idle: list[_Pooled] = []
        self._open = 0
        self._generation = 0
        self._closed = False
        self._available = threading.Condition()
        self.connects = 0
        self.failures = 0
        self.last_error = ""

    def run(self, operation: Callable[[pg8000.native.Connection], T], deadline_s: float, name: str = "query") -> T:
        """Run ``operation`` on a healthy connection, retrying on a fresh one after a connection failure.

        ``deadline_s`` is a time.monotonic() instant; ``name`` names each attempt's span (``INSERT orders``).
        Raises DatabaseUnavailable when no attempt
        succeeded; a DatabaseError the server raised for the statement itself passes through.
        """
        last: BaseException | None = None
        for _ in range(self.settings.attempts):
            if time.monotonic() >= deadline_s:
                break
            try:
                pooled = self._acquire(deadline_s)
            except DatabaseUnavailable as error:
                last = error
                continue
            try:
                with tracing.span(name, tracing.SpanKind.CLIENT, self._span_attributes(pooled.address)):
                    result = operation(pooled.connection)
            except Exception as error:
                if not broken(error):
                    self._release(pooled)
                    raise
                last = error
                self._fail(pooled, error)
                continue
            self._release(pooled)
            return result
        if isinstance(last, DatabaseUnavailable):
            raise last
        reason = message(last) if last is not None else "no time left before the request's deadline"
        raise DatabaseUnavailable(f"database {self.settings.endpoint}: {reason}")

    def close(self) -> None:
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._available.notify_all()
        for pooled in idle:
            _close_quietly(pooled.connection)

    def stats(self) -> dict[str, object]:
        with self._available:
            return {"open": self._open, "idle": len(self._idle), "connects": self.connects,
                    "failures": self.failures, "last_error": self.last_error}

    def _acquire(self, deadline_s: float) -> _Pooled:
        stale: list[_Pooled] = []
        try:
            with self._available:
                while True:
                    if self._closed:
                        raise DatabaseUnavailable("the checkout service is shutting down")
                    while self._idle:
                        pooled = self._idle.pop()
                        if self._current(pooled):
                            return pooled
                        stale.append(pooled)
                        self._open -= 1
                    if self._open < self.settings.pool_size:
                        self._open += 1
                        generation = self._generation
                        break
                    remaining = deadline_s - time.monotonic()
                    if remaining <= 0:
                        raise DatabaseUnavailable(
                            f"all {self.settings.pool_size} database connections stayed busy until the deadline")
                    self._available.wait(remaining)
        finally:
            for pooled in stale:
                _close_quietly(pooled.connection)
        try:
            connection, address = self._connect(deadline_s)
        except BaseException:
            with self._available:
                self._open -= 1
                self._available.notify()
            raise
        return _Pooled(connection, address, generation)

    def _span_attributes(self, address: str | None) -> dict[str, object]:
        s = self.settings
        return tracing.db_attributes(s.endpoint, s.port, s.database, address)

    def _current(self, pooled: _Pooled) -> bool:
        if pooled.generation != self._generation:
            return False
        cached = self.resolver.cached()
        if cached is None or time.monotonic() < cached.expires_at_s:
            return cached is None or cached.address == pooled.address
        try:
            return self.resolver.address() == pooled.address
        except EndpointResolutionError:
            return True  # keep a working connection while DNS is down (stale-if-error)

    def _connect(self, deadline_s: float) -> tuple[pg8000.native.Connection, str]:
        try:
            address = self.resolver.address()
        except EndpointResolutionError as error:
            self._note_failure(error)
            raise
        with tracing.span("connect", tracing.SpanKind.CLIENT, self._span_attributes(address)):
            connection = self._open_connection(address, deadline_s)
        self.connects += 1
        return connection, address

    def _open_connection(self, address: str, deadline_s: float) -> pg8000.native.Connection:
        settings = self.settings
        timeout_s = max(0.05, min(settings.connect_timeout_s, deadline_s - time.monotonic()))
        source = (settings.source_address, 0) if settings.source_address else None
        try:
            sock = socket.create_connection((address, settings.port), timeout_s, source)
        except OSError as error:
            self._note_failure(error)
            raise DatabaseUnavailable(
                f"database {settings.endpoint} ({address}:{settings.port}): connect failed: {error}") from error
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # The server cancels a statement after statement_timeout; the socket timeout only catches a
        # path that drops packets, so it must be longer.
        sock.settimeout(settings.statement_timeout_s + settings.connect_timeout_s)
        try:
            connection = pg8000.native.Connection(
                settings.user, database=settings.database, password=settings.password, sock=sock,
                ssl_context=False, tcp_keepalive=True, application_name=settings.application_name,
                startup_params={"statement_timeout": str(int(settings.statement_timeout_s * 1000))},
            )
            if self._on_connect is not None:
                self._on_connect(connection)
        except Exception as error:
            sock.close()
            self._note_failure(error)
            raise DatabaseUnavailable(
                f"database {settings.endpoint} ({address}:{settings.port}): {message(error)}") from error
        return connection

    def _release(self, pooled: _Pooled) -> None:
        with self._available:
            if self._closed or pooled.generation != self._generation:
                self._open -= 1
                retire = True
            else:
                self._idle.append(pooled)
                retire = False
            self._available.notify()
        if retire:
            _close_quietly(pooled.connection)

    def _fail(self, pooled: _Pooled, error: BaseException) -> None:
        self._note_failure(error)
        with self._available:
            self._open -= 1
            # Connections opened before this failure point at the server that just failed.
            if pooled.generation == self._generation:
                self._generation += 1
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._available.notify_all()
        for stale in [pooled, *idle]:
            _close_quietly(stale.connection)
        log.warning("database connection to %s failed: %s", pooled.address, message(error))

    def _note_failure(self, error: BaseException) -> None:
        self.failures += 1
        self.last_error = message(error)


def _close_quietly(connection: pg8000.native.Connection) -> None:
    try:
        connection.close()
    except Exception:  # the server may already be gone; closing is best effort by nature
        pass
