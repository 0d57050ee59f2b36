"""The edge server (stack/local/cloudfront/proxy.py) on a loopback port: the WAF hook, hits and misses, errors."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from base.timescale import TimeScale
from stack.local.cloudfront.caching import EdgeCache
from stack.local.cloudfront.distribution import parse
from stack.local.cloudfront.hook import EdgeRequest, Verdict
from stack.local.cloudfront.origin import OriginClient, Resolver
from stack.local.cloudfront.proxy import Edge
from stack.local.messages import Change

CONFIG = {"Origins": {"Items": [{"Id": "s3", "DomainName": "b.s3.amazonaws.com", "S3OriginConfig": {}}]},
          "DefaultCacheBehavior": {"TargetOriginId": "s3", "DefaultTTL": 100}, "WebACLId": "arn:aws:wafv2:acl"}


class _Evaluator:
    """Blocks requests whose path starts with /admin; remembers what it saw and what the edge answered."""

    def __init__(self) -> None:
        self.seen: list[EdgeRequest] = []
        self.observed: list[tuple[str, int, bool]] = []

    def evaluate(self, request: EdgeRequest) -> Verdict | None:
        self.seen.append(request)
        return Verdict(block=True, rule="no-admin") if request.path.startswith("/admin") else None

    def observe(self, request: EdgeRequest, status: int, verdict: Verdict | None) -> None:
        self.observed.append((request.path, status, verdict is not None))

    def on_change(self, change: Change) -> None:
        pass

    def stop(self) -> None:
        pass


async def _get(port: int, path: str, host: str = "d1.cloudfront.net") -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Test: 1\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read(-1)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return int(lines[0].split()[1]), {n.lower(): v.strip() for n, _, v in (line.partition(":") for line in lines[1:])}, body


def test_the_evaluator_sees_every_request_first_and_a_block_is_a_403_at_the_edge() -> None:
    origin_calls: list[str] = []

    def s3(bucket: str, key: str, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        origin_calls.append(key)
        return (200, [("Content-Type", "text/plain")], b"hello") if key != "missing" else (404, [], b"no")

    evaluator = _Evaluator()
    distribution = parse("D1", "d1.cloudfront.net", CONFIG, lambda _: None)

    async def run() -> list[tuple[int, dict[str, str], bytes]]:
        origins = OriginClient("127.0.0.1", {}, TimeScale(0.1), Resolver(("127.0.0.1", 1)), s3, ThreadPoolExecutor(1))
        edge = Edge("FRA", "127.0.0.1", lambda: {"d1.cloudfront.net": distribution}, EdgeCache(TimeScale(0.1)), origins,
                    lambda: evaluator, logging.getLogger("test"))
        server = await asyncio.get_running_loop().create_server(edge.protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        answers = [await _get(port, path) for path in ("/a.txt", "/a.txt", "/admin/x", "/missing")]
        answers.append(await _get(port, "/a.txt", host="other.example"))
        server.close()
        return answers

    miss, hit, blocked, missing, unknown = asyncio.run(run())
    assert (miss[0], miss[1]["x-cache"], miss[2]) == (200, "Miss from cloudfront", b"hello") and "age" not in miss[1]
    assert (hit[0], hit[1]["x-cache"], hit[1]["age"], hit[2]) == (200, "Hit from cloudfront", "0", b"hello")
    assert hit[1]["x-amz-cf-pop"].startswith("FRA") and hit[1]["x-amz-cf-id"] != miss[1]["x-amz-cf-id"]
    assert blocked[0] == 403 and blocked[1]["x-cache"] == "Error from cloudfront"
    assert missing[0] == 404 and missing[1]["x-cache"] == "Error from cloudfront"
    assert unknown[0] == 403
    assert origin_calls == ["a.txt", "missing"]  # the hit and the blocked request never reached the origin
    first: Any = evaluator.seen[0]
    assert (first.edge, first.distribution_id, first.web_acl_id, first.client_ip, first.method, first.path) == \
        ("FRA", "D1", "arn:aws:wafv2:acl", "127.0.0.1", "GET", "/a.txt") and first.headers["x-test"] == "1"
    assert evaluator.observed == [("/a.txt", 200, False), ("/a.txt", 200, False), ("/admin/x", 403, True),
                                  ("/missing", 404, False)]
