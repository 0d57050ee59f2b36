"""The inventory API: POST /transactions stores a transaction once, then acknowledges it.

SQLite in the part's state directory, committed before the answer: an acknowledged transaction is
stored. A transaction id seen before is acknowledged again without being applied twice (a client's
retry after a timeout, or bytes a cut network held and delivered late).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from stack.local.warehouse.jsonhttp import STOP_POLL_S, JsonHandler


class Store:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS txn (id TEXT PRIMARY KEY, sku TEXT, qty INTEGER, "
                         "applied_at REAL DEFAULT (julianday('now')))")
        self._lock = threading.Lock()
        self.duplicates = 0

    def apply(self, txn_id: str, sku: str, qty: int) -> bool:
        """Store the transaction; False when it was stored before (nothing is applied twice)."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO txn (id, sku, qty) VALUES (?, ?, ?)", (txn_id, sku, qty))
            if cursor.rowcount == 0:
                self.duplicates += 1
            return cursor.rowcount == 1

    def ids(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM txn ORDER BY rowid")]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Handler(JsonHandler):
    server: "InventoryServer"
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle would hold the body for the client's ACK

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"ok": True})
        elif self.path == "/transactions":
            ids = self.server.store.ids()
            self._send(200, {"count": len(ids), "ids": ids, "duplicates": self.server.store.duplicates})
        else:
            self._send(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            txn = json.loads(self.rfile.read(length))
            txn_id, sku, qty = str(txn["id"]), str(txn["sku"]), int(txn["qty"])
        except (ValueError, KeyError, TypeError) as error:
            self._send(400, {"error": f"a transaction is {{id, sku, qty}}: {error}"})
            return
        if self.path != "/transactions":
            self._send(404, {"error": f"no such path {self.path}"})
            return
        applied = self.server.store.apply(txn_id, sku, qty)
        self._send(200, {"id": txn_id, "duplicate": not applied})


class InventoryServer(ThreadingHTTPServer):
    daemon_threads = True
    # The connections a cut network held arrive together once BGP moves the traffic: with the default
    # backlog of 5 the kernel would drop their handshakes, and each would wait for a SYN retransmission.
    request_queue_size = 256

    def __init__(self, host: str, store: Store) -> None:
        super().__init__((host, 0), _Handler)
        self.store = store
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": STOP_POLL_S}, name="inventory",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
