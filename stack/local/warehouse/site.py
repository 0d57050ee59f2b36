"""The warehouse service at its site, and its control API on the site's address.

It sends inventory transactions one after the other to the inventory API, each POST on a keep-alive
connection bound to the site's address (so the fabric routes it over the site's links). A request
that gets no answer within the timeout is retried with the same transaction id on a new connection
after a short back-off, until acknowledged: a real client's behaviour, and the reason the inventory
deduplicates. Timeouts and back-off are the warehouse's own process timings: AWS seconds, scaled.
Network delay is not.

Control (HTTP on the site's address): ``POST /start`` (``{"rate_per_s": n}``), ``POST /stop``,
``GET /status`` (every acknowledged transaction: id, wall time sent and acknowledged, the successful
attempt's latency, attempts).
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from base.timescale import TimeScale
from stack.local.warehouse.jsonhttp import STOP_POLL_S, JsonHandler

REQUEST_TIMEOUT_S = 10.0  # AWS seconds: the client's read timeout
BACKOFF_S = (0.5, 2.0)  # AWS seconds: the first retry's wait, and the cap (doubling in between)
MAX_RATE_PER_S = 200.0


@dataclass(frozen=True)
class Ack:
    id: str
    sent_at: float  # wall time of the first attempt
    acked_at: float
    latency_ms: float  # of the attempt that was acknowledged
    attempts: int


class WarehouseService:
    def __init__(self, site_address: str, inventory: tuple[str, int], timescale: TimeScale) -> None:
        self.site_address, self.inventory = site_address, inventory
        self.timeout_s = max(0.05, timescale.to_wall(REQUEST_TIMEOUT_S))
        self.backoff_s = (timescale.to_wall(BACKOFF_S[0]), timescale.to_wall(BACKOFF_S[1]))
        self.acks: list[Ack] = []
        self.retries = 0
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._stopping = threading.Event()
        self._rate = 10.0
        self._connection: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._loop, name="warehouse", daemon=True)
        self._thread.start()

    def start(self, rate_per_s: float) -> None:
        self._rate = min(MAX_RATE_PER_S, max(0.1, rate_per_s))
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def close(self) -> None:
        self._stopping.set()
        self._running.set()
        self._thread.join(5)
        self._drop()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"running": self._running.is_set(), "rate_per_s": self._rate, "retries": self.retries,
                    "site_address": self.site_address, "inventory": f"{self.inventory[0]}:{self.inventory[1]}",
                    "acked": [asdict(a) for a in self.acks]}

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _post(self, body: bytes) -> bool:
        """One attempt; True when acknowledged."""
        try:
            if self._connection is None:
                connection = http.client.HTTPConnection(*self.inventory, timeout=self.timeout_s,
                                                        source_address=(self.site_address, 0))
                self._connection = connection
                connection.connect()
                assert connection.sock is not None
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connection.request("POST", "/transactions", body, {"Content-Type": "application/json"})
            response = self._connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            self._drop()  # a timed-out connection is not reused: the next attempt opens a new one
            return False

    def _send(self, txn_id: str) -> None:
        body = json.dumps({"id": txn_id, "sku": f"sku-{random.randrange(1000)}", "qty": random.randrange(1, 50)}).encode()
        sent_at, attempts, backoff = time.time(), 0, self.backoff_s[0]
        while not self._stopping.is_set():
            attempts += 1
            started = time.perf_counter()
            if self._post(body):
                latency = (time.perf_counter() - started) * 1000.0
                with self._lock:
                    self.acks.append(Ack(txn_id, sent_at, time.time(), latency, attempts))
                return
            with self._lock:
                self.retries += 1
            self._stopping.wait(backoff * random.uniform(0.5, 1.0))
            backoff = min(self.backoff_s[1], backoff * 2)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._running.wait()
            if self._stopping.is_set():
                return
            started = time.monotonic()
            self._send(str(uuid.uuid4()))
            self._stopping.wait(max(0.0, 1.0 / self._rate - (time.monotonic() - started)))


class _Control(JsonHandler):
    server: "ControlServer"

    def do_GET(self) -> None:
        if self.path == "/status":
            self._send(200, self.server.service.status())
        else:
            self._send(404, {"error": f"no such path {self.path}; GET /status"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            args = json.loads(self.rfile.read(length) or b"{}")
            service = self.server.service
            if self.path == "/start":
                service.start(float(args.get("rate_per_s", 10)))
            elif self.path == "/stop":
                service.pause()
            else:
                self._send(404, {"error": f"no such path {self.path}; POST /start or /stop"})
                return
        except (ValueError, KeyError, TypeError) as error:
            self._send(400, {"error": f"{self.path}: {error}"})
            return
        self._send(200, {"ok": True})


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: WarehouseService) -> None:
        super().__init__(address, _Control)
        self.service = service
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": STOP_POLL_S}, name="warehouse-control",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
