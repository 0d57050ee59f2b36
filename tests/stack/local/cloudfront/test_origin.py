"""Origin fetches and origin-group failover (stack/local/cloudfront/origin.py), against real sockets on 127.0.0.1."""
from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from base.timescale import TimeScale
from stack.local.cloudfront.distribution import Origin
from stack.local.cloudfront.origin import OriginClient, OriginFailure, Resolver, parse_response, s3_location

STATUSES = frozenset({500, 502, 503, 504})


class _Fixed(Resolver):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 1))

    async def addresses(self, name: str) -> tuple[str, ...]:
        return ("127.0.0.1",)


def _origin(name: str, port: int, attempts: int = 3, timeout_s: float = 10) -> Origin:
    return Origin(name, f"{name}.example", "", False, port, attempts, timeout_s, 30)


def _client(scale: float = 0.1) -> OriginClient:
    return OriginClient("127.0.0.1", {}, TimeScale(scale), _Fixed(), lambda b, k, m: (200, [], b""), ThreadPoolExecutor(1),
                        connect_floor_s=0.0)


async def _server(status: int, seen: list[bytes]) -> tuple[asyncio.AbstractServer, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                     f"5\r\nhello\r\n0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_failover_status_moves_to_the_secondary_and_every_request_starts_at_the_primary() -> None:
    async def run() -> tuple[Any, Any, list[bytes], list[bytes]]:
        primary_seen: list[bytes] = []
        secondary_seen: list[bytes] = []
        primary, p_port = await _server(503, primary_seen)
        secondary, s_port = await _server(200, secondary_seen)
        client = _client()
        origins = (_origin("east", p_port), _origin("west", s_port))
        first = await client.fetch(origins, STATUSES, "GET", "/api/x", "a=1", [("Accept", "*/*")], b"")
        second = await client.fetch(origins, STATUSES, "GET", "/api/x", "", [], b"")
        posted = await client.fetch(origins, STATUSES, "POST", "/api/orders", "", [], b"{}")  # no failover for a POST
        primary.close()
        secondary.close()
        return (first, second, posted, client.stats), None, primary_seen, secondary_seen

    (first, second, posted, stats), _, primary_seen, secondary_seen = asyncio.run(run())
    assert (first.status, first.body, first.origin_id, first.tried) == (200, b"hello", "west", ("east", "west"))
    assert second.tried == ("east", "west") and len(primary_seen) == 3 and len(secondary_seen) == 2
    assert posted.status == 503 and posted.origin_id == "east"
    assert primary_seen[0].startswith(b"GET /api/x?a=1 HTTP/1.1\r\nHost: east.example\r\n")
    assert stats.as_json() == {"requests": {"east": 3, "west": 2}, "failures": {}, "failovers": 2, "last_failure": {}}


def test_a_refused_primary_fails_over_after_its_connection_attempts() -> None:
    async def run() -> Any:
        secondary, s_port = await _server(200, [])
        client = _client()
        response = await client.fetch((_origin("east", _closed_port(), attempts=2), _origin("west", s_port)), STATUSES,
                                      "GET", "/", "", [], b"")
        secondary.close()
        return response, client.stats

    response, stats = asyncio.run(run())
    assert response.origin_id == "west" and stats.failures == {"east": 1}


def test_an_unanswered_connect_fails_over_after_attempts_times_the_scaled_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[float] = []

    async def stalls(*args: Any, **kwargs: Any) -> Any:
        attempts.append(time.monotonic())
        await asyncio.sleep(3600)

    async def run() -> Any:
        secondary, s_port = await _server(200, [])
        client = _client(scale=0.01)  # ConnectionTimeout 10 s -> 0.1 s wall
        with monkeypatch.context() as patch:
            patch.setattr(asyncio, "open_connection", stalls)
            started = time.monotonic()
            try:
                await client.fetch((_origin("east", 1, attempts=3, timeout_s=10),), STATUSES, "GET", "/", "", [], b"")
            except OriginFailure as error:
                failed = (time.monotonic() - started, error)
        response = await client.fetch((_origin("east", _closed_port(), attempts=1), _origin("west", s_port)), STATUSES,
                                      "GET", "/", "", [], b"")
        secondary.close()
        return failed, response

    (elapsed, error), response = asyncio.run(run())
    assert len(attempts) == 3 and elapsed >= 3 * 0.1 and error.timed_out
    assert "attempt 3: no connection within 10 s" in str(error)
    assert response.origin_id == "west"


def test_responses_are_parsed_by_length_or_chunks_and_s3_domains_name_their_bucket() -> None:
    status, headers, body = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\nX-A: 1\r\n\r\nabcdef")
    assert (status, headers, body) == (200, [("X-A", "1")], b"abc")
    with pytest.raises(ValueError, match="ended after 1 of 3 bytes"):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na")
    assert s3_location("assets.s3.us-west-2.amazonaws.com") == ("assets", "us-west-2")
    assert s3_location("my.assets.s3.amazonaws.com") == ("my.assets", "us-east-1")
    with pytest.raises(ValueError, match="is not an S3 bucket's REST endpoint"):
        s3_location("checkout.example")
