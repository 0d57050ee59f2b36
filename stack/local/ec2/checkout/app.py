"""SecureCart's checkout API (ASGI, Starlette).

Every answer is JSON, errors included: 4xx for a bad request (with the field and what is allowed),
503 with a reason when the database cannot be reached in time, 500 for anything unexpected, never a
traceback. Every response names who served it (X-Instance-Id, X-Region, X-Availability-Zone).

The catalog (stack.local.ec2.checkout.catalog): GET /products and GET /products/{sku} read the replica in
this instance's Region; PUT /admin/products/{sku} with ``Authorization: Bearer <token>`` and a body such
as ``{"price_cents": 2199, "stock": 40, "write_id": "promo-7"}`` writes there, unconditionally.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import time
import uuid
from typing import Any, AsyncIterator, Callable, TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from base.numbers import whole_number
from stack.local.ec2.checkout import metrics
from stack.local.ec2.checkout.awsjson import CredentialSource, JsonApi
from stack.local.ec2.checkout.catalog import (
    DYNAMODB_TARGET, MAX_VALUE, SKU, WRITE_ID, Catalog, CatalogReadOnly, CatalogUnavailable, Change, SeedCatalog,
    TableCatalog,
)
from stack.local.ec2.checkout.config import CheckoutConfig
from stack.local.ec2.checkout.orders import IdempotencyConflict, OrderRequest, OrderStore, Placement, ensure_schema
from stack.local.ec2.checkout.pool import ConnectionPool
from stack.local.ec2.checkout.resolver import EndpointResolver
from stack.local.ec2.checkout.tracing import TraceMiddleware, url_filter
from stack.local.ec2.errors import CommitNotConfirmed, DatabaseUnavailable

T = TypeVar("T")
log = logging.getLogger("gameday.ec2.checkout")

MAX_BODY_BYTES = 16 * 1024
MAX_QUANTITY = 100
MAX_CANARY_SEQ = 2**63 - 1
MAX_LIST = 1000
CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
ORDER_FIELDS = {"sku", "quantity", "client_order_id", "canary_seq"}
CHANGE_FIELDS = {"price_cents", "stock", "write_id"}


class RequestError(Exception):
    """A client error, answered as JSON with its status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(http_status: int, code: str, text: str, /, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if http_status == 503 else None
    return JSONResponse({"error": code, "message": text, **extra}, status_code=http_status, headers=headers)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def parse_order(body: Any) -> OrderRequest:
    """Check a POST /orders body. Raises RequestError (422) naming the field and what is allowed."""
    if not isinstance(body, dict):
        raise RequestError(422, "validation_error", "the body must be a JSON object such as "
                                                   '{"sku": "SC-TEE-001", "quantity": 1}')
    unknown = sorted(set(body) - ORDER_FIELDS)
    if unknown:
        raise RequestError(422, "validation_error", f"unknown field {unknown[0]!r}; allowed: {sorted(ORDER_FIELDS)}",
                           unknown[0])
    sku = body.get("sku")
    if not isinstance(sku, str) or not SKU.fullmatch(sku):
        raise RequestError(422, "validation_error", f"sku {sku!r} must be 1-64 characters of A-Z a-z 0-9 . _ -", "sku")
    quantity = body.get("quantity")
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        raise RequestError(422, "validation_error",
                           f"quantity {quantity!r} must be an integer from 1 to {MAX_QUANTITY}", "quantity")
    client_order_id = body.get("client_order_id")
    if client_order_id is not None and (not isinstance(client_order_id, str)
                                        or not CLIENT_ORDER_ID.fullmatch(client_order_id)):
        raise RequestError(422, "validation_error", f"client_order_id {client_order_id!r} must be 1-128 characters "
                                                    "of A-Z a-z 0-9 . _ : @ -", "client_order_id")
    canary_seq = body.get("canary_seq")
    if canary_seq is not None and (type(canary_seq) is not int or not 0 <= canary_seq <= MAX_CANARY_SEQ):
        raise RequestError(422, "validation_error",
                           f"canary_seq {canary_seq!r} must be an integer from 0 to {MAX_CANARY_SEQ}", "canary_seq")
    return OrderRequest(sku, quantity, client_order_id, canary_seq)


def parse_change(body: Any) -> Change:
    """Check a PUT /admin/products/{sku} body. Raises RequestError (422) naming the field and what is allowed."""
    if not isinstance(body, dict):
        raise RequestError(422, "validation_error", 'the body must be a JSON object such as {"price_cents": 2199}')
    unknown = sorted(set(body) - CHANGE_FIELDS)
    if unknown:
        raise RequestError(422, "validation_error", f"unknown field {unknown[0]!r}; allowed: {sorted(CHANGE_FIELDS)}",
                           unknown[0])
    values: dict[str, int | None] = {}
    for name in ("price_cents", "stock"):
        value = body.get(name)
        if value is not None and (type(value) is not int or not 0 <= value <= MAX_VALUE):
            raise RequestError(422, "validation_error", f"{name} {value!r} must be an integer from 0 to {MAX_VALUE}",
                               name)
        values[name] = value
    if values["price_cents"] is None and values["stock"] is None:
        raise RequestError(422, "validation_error", "give price_cents, stock or both", "price_cents")
    write_id = body.get("write_id") or uuid.uuid4().hex[:16]
    if not isinstance(write_id, str) or not WRITE_ID.fullmatch(write_id):
        raise RequestError(422, "validation_error", f"write_id {write_id!r} must be 1-64 characters of "
                                                    "A-Z a-z 0-9 . _ : @ -", "write_id")
    return Change(values["price_cents"], values["stock"], write_id)


def _int_param(request: Request, name: str, low: int, high: int, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise RequestError(400, "bad_request", f"query parameter {name} is required", name)
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(400, "bad_request", f"{name}={raw!r} is not an integer", name) from None
    if not low <= value <= high:
        raise RequestError(400, "bad_request", f"{name}={value} must be from {low} to {high}", name)
    return value


class PlacementHeaders:
    """Outermost ASGI layer: adds who-served-this headers to every response, errors included."""

    def __init__(self, app: ASGIApp, placement: Placement) -> None:
        self.app = app
        self.headers = [(b"x-instance-id", placement.instance_id.encode()), (b"x-region", placement.region.encode()),
                        (b"x-availability-zone", placement.availability_zone.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_placement(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_placement)


class Checkout:
    """The routes and the database they share."""

    def __init__(self, config: CheckoutConfig) -> None:
        self.config = config
        self.placement = config.placement
        self.store: OrderStore | None = None
        self.started_at = time.monotonic()
        self.metrics = (metrics.Recorder(config.metrics_endpoint, config.placement.region, config.placement.instance_id,
                                         config.metrics_flush_s) if config.metrics_endpoint else None)
        self.catalog: Catalog = SeedCatalog(config.placement.region)
        if config.catalog_table is not None:
            api = JsonApi(config.catalog_endpoint, config.placement.region, "dynamodb", DYNAMODB_TARGET,
                          CredentialSource())
            self.catalog = TableCatalog(api, config.catalog_table)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        config = self.config
        pool = None
        if config.database is not None:
            resolver = EndpointResolver(config.database.endpoint, config.dns_host, config.dns_port,
                                        timeout_s=config.dns_timeout_s)
            pool = ConnectionPool(config.database, resolver, on_connect=ensure_schema)
            self.store = OrderStore(pool, self.placement)
        if self.metrics is not None:
            self.metrics.start()
        try:
            yield
        finally:
            if self.metrics is not None:
                self.metrics.stop()
            if pool is not None:
                pool.close()

    def app(self) -> ASGIApp:
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/health/deep", self.deep_health, methods=["GET"]),
            Route("/products", self.products, methods=["GET"]),
            Route("/products/{sku}", self.product, methods=["GET"]),
            Route("/admin/products/{sku}", self.change_product, methods=["PUT"]),
            Route("/orders", self.create_order, methods=["POST"]),
            Route("/orders", self.find_orders, methods=["GET"]),
            Route("/orders/{order_id}", self.get_order, methods=["GET"]),
        ]
        handlers: dict[Any, Callable[..., Any]] = {HTTPException: self._http_error, Exception: self._unexpected}
        traced = TraceMiddleware(Starlette(routes=routes, exception_handlers=handlers, lifespan=self.lifespan),
                                 url_filter(self.config.untraced_urls))
        served: ASGIApp = PlacementHeaders(traced, self.placement)
        return metrics.RequestMetrics(served, self.metrics) if self.metrics is not None else served

    # --- routes ---

    async def health(self, _request: Request) -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", **self._identity(),
                                "uptime_s": round(time.monotonic() - self.started_at, 3)}
        if self.store is not None:
            body["database_pool"] = self.store.pool.stats()
        return JSONResponse(body)

    async def deep_health(self, _request: Request) -> JSONResponse:
        try:
            store = self._store()
            database = await self._db(store.ping, self.config.health_timeout_s)
        except DatabaseUnavailable as error:
            return error_response(503, "database_unavailable", str(error), status="unhealthy", **self._identity())
        if database["in_recovery"]:
            return error_response(503, "database_read_only",
                                  f"database {store.pool.settings.endpoint} at {database['server_address']} is a "
                                  "read-only standby (in recovery); orders cannot be written",
                                  status="unhealthy", database=database, **self._identity())
        return JSONResponse({"status": "ok", **self._identity(), "database": database})

    async def products(self, _request: Request) -> JSONResponse:
        try:
            products = await self._blocking(lambda: self.catalog.all(self.config.request_timeout_s))
        except CatalogUnavailable as error:
            return error_response(503, "catalog_unavailable", str(error))
        return JSONResponse({"products": [p.as_json() for p in products], "catalog": self.catalog.source})

    async def product(self, request: Request) -> JSONResponse:
        sku = request.path_params["sku"]
        if not SKU.fullmatch(sku):
            return error_response(400, "bad_request", f"sku {sku!r} must be 1-64 characters of A-Z a-z 0-9 . _ -",
                                  field="sku")
        try:
            product = await self._blocking(lambda: self.catalog.get(sku, self.config.request_timeout_s))
        except CatalogUnavailable as error:
            return error_response(503, "catalog_unavailable", str(error))
        if product is None:
            return error_response(404, "not_found", f"no product {sku} in {self.catalog.source}")
        return JSONResponse(product.as_json() | {"catalog": self.catalog.source})

    async def change_product(self, request: Request) -> JSONResponse:
        """Write a price and/or stock change to this Region's replica: no condition, version + 1."""
        sku = request.path_params["sku"]
        token = self.config.admin_token
        if token is None:
            return error_response(403, "admin_disabled", "this instance has no admin token (UserData "
                                                         "catalog_admin_secret_id): the admin endpoint is off")
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            refused = error_response(401, "unauthorized", "send Authorization: Bearer <the catalog admin token>")
            refused.headers["WWW-Authenticate"] = "Bearer"
            return refused
        try:
            if not SKU.fullmatch(sku):
                raise RequestError(400, "bad_request", f"sku {sku!r} must be 1-64 characters of A-Z a-z 0-9 . _ -",
                                   "sku")
            change = parse_change(await self._json(request))
            timeout_s = self.config.request_timeout_s
            if await self._blocking(lambda: self.catalog.get(sku, timeout_s)) is None:
                return error_response(404, "not_found", f"no product {sku} in {self.catalog.source}")
            product = await self._blocking(lambda: self.catalog.update(sku, change, timeout_s))
        except RequestError as error:
            return self._client_error(error)
        except CatalogReadOnly as error:
            return error_response(409, "catalog_read_only", str(error))
        except CatalogUnavailable as error:
            return error_response(503, "catalog_unavailable", str(error))
        return JSONResponse(product.as_json() | {"catalog": self.catalog.source})

    async def create_order(self, request: Request) -> JSONResponse:
        try:
            order_request = parse_order(await self._json(request))
            store = self._store()
            # The price is the catalog's, as this Region's replica holds it now.
            product = await self._blocking(lambda: self.catalog.get(order_request.sku, self.config.request_timeout_s))
            if product is None:
                raise RequestError(422, "validation_error", f"sku {order_request.sku!r} is not in the catalog "
                                                            f"({self.catalog.source})", "sku")
            price = product.price_cents
            order, created = await self._db(
                lambda deadline: store.place(order_request, price, deadline), self.config.request_timeout_s)
        except RequestError as error:
            return self._client_error(error)
        except IdempotencyConflict as error:
            return error_response(409, "idempotency_conflict", str(error), field="client_order_id")
        except CommitNotConfirmed as error:
            return error_response(503, "commit_not_confirmed", str(error))
        except DatabaseUnavailable as error:
            return error_response(503, "database_unavailable", str(error))
        except CatalogUnavailable as error:
            return error_response(503, "catalog_unavailable", str(error))
        # Only reached once the commit has returned: this is the acknowledgement.
        body = order.as_json() | {"committed_at": _now(), "replayed": not created}
        return JSONResponse(body, status_code=201 if created else 200,
                            headers={"Location": f"/orders/{order.order_id}"})

    async def get_order(self, request: Request) -> JSONResponse:
        raw = request.path_params["order_id"]
        try:
            order_id = uuid.UUID(raw)
        except ValueError:
            return error_response(400, "bad_request", f"order id {raw!r} is not a UUID", field="order_id")
        try:
            store = self._store()
            order = await self._db(lambda deadline: store.get(order_id, deadline), self.config.request_timeout_s)
        except DatabaseUnavailable as error:
            return error_response(503, "database_unavailable", str(error))
        if order is None:
            return error_response(404, "not_found", f"no order {order_id}")
        return JSONResponse(order.as_json())

    async def find_orders(self, request: Request) -> JSONResponse:
        """GET /orders?client_order_id=X (one order) or ?canary_seq_from=A&canary_seq_to=B[&limit=N] (a list)."""
        try:
            store = self._store()
            params = request.query_params
            if "client_order_id" in params:
                cid = params["client_order_id"]
                if not CLIENT_ORDER_ID.fullmatch(cid):
                    raise RequestError(400, "bad_request", f"client_order_id {cid!r} is not valid", "client_order_id")
                order = await self._db(lambda d: store.by_client_order_id(cid, d), self.config.request_timeout_s)
                if order is None:
                    return error_response(404, "not_found", f"no order with client_order_id {cid!r}")
                return JSONResponse(order.as_json())
            if "canary_seq_from" in params or "canary_seq_to" in params:
                first = _int_param(request, "canary_seq_from", 0, MAX_CANARY_SEQ)
                last = _int_param(request, "canary_seq_to", first, MAX_CANARY_SEQ)
                limit = _int_param(request, "limit", 1, MAX_LIST, default=MAX_LIST)
                orders = await self._db(lambda d: store.by_canary_range(first, last, limit, d),
                                        self.config.request_timeout_s)
                return JSONResponse({"orders": [o.as_json() for o in orders], "limit": limit})
            raise RequestError(400, "bad_request", "GET /orders needs client_order_id=X, or canary_seq_from=A and "
                                                   "canary_seq_to=B; GET /orders/{order_id} reads one order")
        except RequestError as error:
            return self._client_error(error)
        except DatabaseUnavailable as error:
            return error_response(503, "database_unavailable", str(error))

    # --- helpers ---

    def _identity(self) -> dict[str, str]:
        p = self.placement
        return {"instance_id": p.instance_id, "region": p.region, "availability_zone": p.availability_zone}

    def _store(self) -> OrderStore:
        if self.store is None:
            raise DatabaseUnavailable(f"instance {self.placement.instance_id} has no database configured "
                                      "(its UserData names no DB instance, or the DB instance had no endpoint)")
        return self.store

    async def _db(self, operation: Callable[[float], T], timeout_s: float) -> T:
        """Run a blocking database operation in a worker thread, bounded by ``timeout_s``.

        The pool honours the deadline itself; the outer bound is a backstop that abandons the thread
        (it finishes on its own, bounded by the socket timeout) rather than holding the request.
        Raises DatabaseUnavailable.
        """
        deadline_s = time.monotonic() + timeout_s
        try:
            with anyio.fail_after(timeout_s + 0.25):
                return await anyio.to_thread.run_sync(operation, deadline_s, abandon_on_cancel=True)
        except TimeoutError:
            raise DatabaseUnavailable(f"the database did not answer within {timeout_s:g} s") from None

    async def _blocking(self, operation: Callable[[], T]) -> T:
        """A blocking catalog call in a worker thread (its own timeout bounds it)."""
        return await anyio.to_thread.run_sync(operation, abandon_on_cancel=True)

    async def _json(self, request: Request) -> Any:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise RequestError(415, "unsupported_media_type", "send the body as Content-Type: application/json")
        declared = request.headers.get("content-length")
        if declared is not None and (whole_number(declared) or 0) > MAX_BODY_BYTES:
            raise RequestError(413, "payload_too_large", f"the body is {declared} bytes; at most {MAX_BODY_BYTES}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise RequestError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(400, "invalid_json", f"the body is not valid JSON: {error}") from None

    @staticmethod
    def _client_error(error: RequestError) -> JSONResponse:
        extra = {"field": error.field} if error.field else {}
        return error_response(error.status, error.code, error.message, **extra)

    async def _http_error(self, _request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        headers = dict(error.headers or {})
        return JSONResponse({"error": codes.get(error.status_code, "http_error"), "message": str(error.detail)},
                            status_code=error.status_code, headers=headers or None)

    async def _unexpected(self, request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"unexpected {type(error).__name__}; see the instance's log")


def create_app(config: CheckoutConfig) -> ASGIApp:
    return Checkout(config).app()
