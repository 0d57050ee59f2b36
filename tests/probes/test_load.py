"""The Locust load probe: crowds from their own source addresses at their declared rate, in a child process."""
from __future__ import annotations

import http.server
import sys
import threading
from collections import Counter
from typing import Any, Iterator

import pytest

from probes.load import run as load
from probes.load.plan import Crowd, LoadPlan, Target
from tests.conftest import serving, worker_index


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str) -> None:
        self.sources: Counter[tuple[str, str]] = Counter()  # (source address, path) -> requests
        self.lock = threading.Lock()
        super().__init__((address, 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Recorder

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        with self.server.lock:
            self.server.sources[(self.client_address[0], self.path)] += 1
        status = 403 if self.path == "/forbidden" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[_Recorder]:
    with serving(_Recorder(f"127.0.{worker_index() + 20}.5")) as server:
        yield server


def test_crowds_come_from_their_own_addresses_at_their_declared_rate(origin: _Recorder) -> None:
    assert "locust" not in sys.modules and "gevent" not in sys.modules
    base = f"127.{worker_index() + 20}"
    plan = LoadPlan(Target(str(origin.server_address[0]), int(origin.server_address[1])), (
        Crowd("users", users=2, rate_per_user=2.0, subnet=f"{base}.8.0/24", paths=("/a", "/b")),
        Crowd("bots", users=1, rate_per_user=20.0, subnet=f"{base}.9.0/24", paths=("/forbidden",)),
    ), duration_s=3.0, labels={"run": "test"})
    result = load.run(plan)
    assert "locust" not in sys.modules and "gevent" not in sys.modules  # Locust stayed in the child
    users, bots = result.crowds["users"], result.crowds["bots"]
    assert set(users.statuses) == {200} and set(bots.statuses) == {403}
    # What the server saw: each user from its own address (.10, .11), the bot from .10 of its subnet.
    seen = {source for source, _ in origin.sources}
    assert seen == {f"{base}.8.10", f"{base}.8.11", f"{base}.9.10"}
    assert sum(origin.sources.values()) == len(users.requests) + len(bots.requests)
    # The declared rates are ceilings (constant_throughput never exceeds them: 2 x 2/s and 20/s for 3 s, plus
    # the request in flight at the start); a busy machine may fall short of them, not go over.
    assert 2 <= len(users.requests) <= 14 and len(users.requests) < len(bots.requests) <= 62
    assert bots.first_at_s(403) is not None and result.labels == {"run": "test"}
    assert set(users.by_source()) == {f"{base}.8.10", f"{base}.8.11"}
    assert result.summary()["bots"]["statuses"] == {"403": len(bots.requests)}


def test_a_bad_plan_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="crowd 'bots': rate_per_user must be > 0"):
        Crowd("bots", users=1, rate_per_user=0)
    with pytest.raises(ValueError, match="duration_s must be > 0 and <= 600"):
        LoadPlan(Target("d1.cloudfront.net"), (Crowd("u", 1, 1.0),), duration_s=601)
    with pytest.raises(ValueError, match="subnet '127.200.5.0/33' is not an IPv4 CIDR block"):
        Crowd("bots", users=1, rate_per_user=1.0, subnet="127.200.5.0/33")
