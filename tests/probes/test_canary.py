"""The canary's read-back against a real HTTP order service: lost orders, unreadable ones, reads in parallel."""
from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from typing import Iterator

import pytest

from probes import canary, checkout
from tests.conftest import serving
from tests.probes.test_checkout import FixedAddress


class OrderService(http.server.ThreadingHTTPServer):
    """Takes orders; loses every order whose sequence is in ``lose``, answers 500 for those in ``break_``.

    A read waits on ``gate`` until ``wanted`` reads are in flight at once (or 5 s pass), so a read-back
    that reads one order at a time is seen as such: ``most_in_flight`` stays 1."""

    request_queue_size = 64  # socketserver's 5 drops connections the parallel read-back opens at once

    def __init__(self, lose: set[int], break_: set[int], wanted: int) -> None:
        self.orders: dict[str, int] = {}
        self.lose, self.break_, self.wanted = lose, break_, wanted
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        super().__init__(("127.0.0.1", 0), OrderHandler)


class OrderHandler(http.server.BaseHTTPRequestHandler):
    server: OrderService

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["canary_seq"] not in self.server.lose:
            self.server.orders[body["client_order_id"]] = body["canary_seq"]
        self._answer(201, {"order_id": body["canary_seq"]})

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
            if self.server.in_flight >= self.server.wanted:
                self.server.gate.set()
        self.server.gate.wait(5)
        with self.server.lock:
            self.server.in_flight -= 1
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        sequence = self.server.orders.get(query["client_order_id"][0])
        if sequence in self.server.break_:
            self._answer(500, {})
        else:
            self._answer(404 if sequence is None else 200, {})

    def _answer(self, status: int, body: dict[str, int]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[OrderService]:
    with serving(OrderService(lose={3, 7}, break_={5}, wanted=canary.READ_BACK_CONCURRENCY)) as httpd:
        yield httpd


def test_read_back_names_every_lost_order_and_reads_them_in_parallel(service: OrderService) -> None:
    client = checkout.Client(FixedAddress("127.0.0.1"), service.server_port, None, 5.0, 10.0)  # type: ignore[arg-type]
    probe = canary.Canary(client, interval_s=0.01)
    for sequence in range(1, 21):
        probe.order(sequence)
    assert len(probe.acks) == 20, probe.attempts

    read_back = probe.read_back()

    assert read_back.acknowledged == 20
    assert [ack.sequence for ack in read_back.missing] == [3, 7]
    assert read_back.unreadable == (f"canary-{probe.run_id}-000005: HTTP 500",)
    assert service.most_in_flight == canary.READ_BACK_CONCURRENCY, "the read-back did not read orders in parallel"


def test_read_back_reads_unreadable_orders_again_until_its_deadline(service: OrderService) -> None:
    service.gate.set()  # one read at a time is fine here
    client = checkout.Client(FixedAddress("127.0.0.1"), service.server_port, None, 5.0, 10.0)  # type: ignore[arg-type]
    probe = canary.Canary(client, interval_s=0.01)
    for sequence in range(1, 9):
        probe.order(sequence)
    # The order service answers 500 for order 5 until the second re-read (a database still failing over).
    healed = threading.Timer(0.15, service.break_.clear)
    healed.start()
    try:
        read_back = probe.read_back(retry_for_s=10.0, pause_s=0.1)
    finally:
        healed.cancel()
    assert read_back.unreadable == () and [ack.sequence for ack in read_back.missing] == [3, 7]

    service.break_.add(5)  # broken for good: re-read until the deadline, then reported
    read_back = probe.read_back(retry_for_s=0.3, pause_s=0.1)
    assert read_back.unreadable == (f"canary-{probe.run_id}-000005: HTTP 500",)
    assert [ack.sequence for ack in read_back.missing] == [3, 7]
