"""The HTTP side of the store services, on a Unix socket the fabric exposes at a private address.

POS (at the store):   GET /health, GET /status, POST /sales {"sku", "quantity"} -> 201 the sale (409 out of stock)
Ledger (in a Region): GET /health, GET /sales[?store=], POST /sales (Idempotency-Key header) -> 201 new, 200 retry,
                      POST /sales/batch {"sales": [...]} (each sale's id its key) -> 200 with each sale's "new"
"""
from __future__ import annotations

import json
import socketserver
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from stack.local.stores.ledger import Conflict, Ledger
from stack.local.stores.pos import OutOfStock, PointOfSale

Route = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]  # method, path, headers, body -> status, JSON


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    route: Route


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Buffered: the status line, headers and body leave in one write (flushed after each request), so a
    # client never waits on a delayed ACK between a small header segment and the body.
    wbufsize = -1

    def address_string(self) -> str:
        return "fabric"  # a Unix socket has no peer address; the fabric is the only caller

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would flood the log under load; errors are answered as JSON

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload = self.server.route(self.command, self.path, headers, body)
        except Exception as error:  # noqa: BLE001 - answered, never a dropped connection
            status, payload = 500, {"error": f"{type(error).__name__}: {error}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve


def serve(path: str, route: Route) -> _Server:
    server = _Server(path, _Handler)
    server.route = route
    return server


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return None


def pos_routes(pos: PointOfSale) -> Route:
    def route(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        where = urlsplit(path).path
        if method == "GET" and where in ("/health", "/status"):
            return 200, pos.status()
        if method == "POST" and where == "/sales":
            sale = _json(body)
            if not isinstance(sale, dict):
                return 400, {"error": "the body must be a JSON object {\"sku\": ..., \"quantity\": ...}"}
            try:
                done = pos.sell(str(sale.get("sku", "")), int(sale.get("quantity", 1)))
            except OutOfStock as error:
                return 409, {"error": str(error)}
            except (TypeError, ValueError) as error:
                return 400, {"error": str(error)}
            return 201, {"sale_id": done.sale_id, "store": done.store, "sku": done.sku, "quantity": done.quantity,
                         "sold_at": done.sold_at}
        return 404, {"error": f"no route {method} {where}"}

    return route


def ledger_routes(ledger: Ledger) -> Route:
    def route(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(path)
        if method == "GET" and parts.path == "/health":
            return 200, {"sales": len(ledger.records)}
        if method == "GET" and parts.path == "/sales":
            store = parse_qs(parts.query).get("store", [None])[0]
            return 200, ledger.listing(store)
        if method == "POST" and parts.path == "/sales":
            sale = _json(body)
            if not isinstance(sale, dict):
                return 400, {"error": "the body must be a JSON object"}
            try:
                record, new = ledger.record(headers.get("idempotency-key", ""), sale)
            except Conflict as error:
                return 409, {"error": str(error)}
            except ValueError as error:
                return 400, {"error": str(error)}
            return (201 if new else 200), {"sale_id": record.sale_id, "received_at": record.received_at, "new": new}
        if method == "POST" and parts.path == "/sales/batch":
            batch = _json(body)
            if not isinstance(batch, dict) or not isinstance(batch.get("sales"), list):
                return 400, {"error": "the body must be a JSON object {\"sales\": [...]}"}
            try:
                done = ledger.record_batch(batch["sales"])
            except Conflict as error:
                return 409, {"error": str(error)}
            except (ValueError, AttributeError) as error:
                return 400, {"error": str(error)}
            return 200, {"results": [{"sale_id": r.sale_id, "new": new} for r, new in done]}
        return 404, {"error": f"no route {method} {parts.path}"}

    return route
