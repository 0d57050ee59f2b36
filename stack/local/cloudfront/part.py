"""``CloudFrontPart``: the edge locations of the local stack (stack.local.part.Part).

Each edge location of the environment is an HTTP caching proxy on its own loopback address
(proxy.py), all served by one event loop on the part's thread (uvloop when installed). The part
reads distributions through boto3 after every CloudFront change, swaps the edges' host table whole,
and has Route 53's DNS server answer each distribution's name with the edge nearest the client
(service ``ClientRoutedRecords``). ``CreateInvalidation`` purges every edge's cache before the call
returns. An evaluator found at ``stack.local.cloudfront.waf`` (hook.py) sees every viewer request first.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Mapping

from botocore.exceptions import ClientError

from stack.local.cloudfront import sync
from stack.local.cloudfront.caching import EdgeCache
from stack.local.cloudfront.distribution import Distribution
from stack.local.cloudfront.edges import DISTRIBUTION_TTL_S, EdgeLocation, edge_locations, nearest_by_network
from stack.local.cloudfront.hook import EVALUATOR_FACTORY, EVALUATOR_MODULE, RequestEvaluator
from stack.local.cloudfront.origin import OriginClient, Resolver
from stack.local.cloudfront.proxy import Edge
from stack.local.part import ApiHandler, Change, ChangeNotApplied, Health, PartContext
from stack.local.services import ClientRoutedRecords

SYNC_TIMEOUT_S = 10.0  # how long a CloudFront call waits for the edges to serve its change


class CloudFrontError(Exception):
    pass


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class CloudFrontPart:
    name: ClassVar[str] = "cloudfront"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = (ClientRoutedRecords,)

    def __init__(self) -> None:
        self.context: PartContext | None = None
        self.log = logging.getLogger("gameday.cloudfront")
        self.edges: dict[str, Edge] = {}
        self.locations: tuple[EdgeLocation, ...] = ()
        self.evaluator: RequestEvaluator | None = None
        self._hosts: dict[str, Distribution] = {}
        self._by_id: dict[str, Distribution] = {}
        self._served_names: set[str] = set()
        self._problems: list[str] = []
        self._sync_error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._executor: ThreadPoolExecutor | None = None
        self._records: ClientRoutedRecords | None = None
        self._sync_lock = threading.Lock()

    # --- lifecycle

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: its sockets and threads die with the supervisor."""
        return []

    def start(self, context: PartContext) -> None:
        """Bind every edge location and read the distributions. Raises CloudFrontError when an edge cannot bind."""
        self.context = context
        self.log = context.log
        env = context.environment
        self.locations = edge_locations(env)
        self._records = context.require(ClientRoutedRecords)
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="cloudfront-s3")
        self.evaluator = self._make_evaluator(context)
        resolver_address = (context.instance.control_host, context.instance.dns_port)
        for location in self.locations:
            origins = OriginClient(location.address, location.rtt_ms, context.timescale, Resolver(resolver_address),
                                   self._s3_get, self._executor)
            self.edges[location.code] = Edge(location.code, location.address, lambda: self._hosts,
                                             EdgeCache(context.timescale), origins, lambda: self.evaluator, self.log)
        self._loop = _new_loop()
        self._loop.set_exception_handler(lambda loop, detail: self.log.error("cloudfront: %s", detail.get("message"),
                                                                             exc_info=detail.get("exception")))
        self._thread = threading.Thread(target=self._loop.run_forever, name="cloudfront-edges", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._bind(env.local.edge_http_port), self._loop).result(10)
        except Exception as error:
            self.stop()
            raise CloudFrontError(f"cloudfront: cannot bind the edge locations: {error}") from error
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - the endpoint answers; a failed read is retried at the next change
            self._sync_error = f"{type(error).__name__}: {error}"
            self.log.warning("cloudfront: first read of the distributions failed: %s", error)

    async def _bind(self, port: int) -> None:
        assert self._loop is not None
        for edge in self.edges.values():
            self._servers.append(await self._loop.create_server(edge.protocol, edge.address, port, reuse_address=True, backlog=1024))

    def stop(self) -> None:
        """Close the edges' sockets and stop the loop. Safe to call twice."""
        loop, self._loop = self._loop, None
        if loop is not None and loop.is_running():
            async def close() -> None:
                for server in self._servers:
                    server.close()
            try:
                asyncio.run_coroutine_threadsafe(close(), loop).result(5)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(10)
        self._servers = []
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self.evaluator is not None:
            self.evaluator.stop()
            self.evaluator = None
        records = self._records
        if records is not None:
            for name in self._served_names:
                records.remove_routed_record(name)
        self._served_names = set()

    def _make_evaluator(self, context: PartContext) -> RequestEvaluator | None:
        if importlib.util.find_spec(EVALUATOR_MODULE) is None:
            return None
        factory = getattr(importlib.import_module(EVALUATOR_MODULE), EVALUATOR_FACTORY)
        evaluator: RequestEvaluator = factory(context)
        return evaluator

    # --- keeping in step with the API

    def on_change(self, change: Change) -> None:
        if self.evaluator is not None:
            self.evaluator.on_change(change)
        request = change.request
        if request.service != "cloudfront":
            return
        if request.operation == "CreateInvalidation":
            distribution_id, paths = sync.invalidated(request.path, change.response_body, self._invalidation_paths)
            purged = sum(edge.cache.purge(distribution_id, paths) for edge in self.edges.values())
            self.log.info("cloudfront: invalidation of %s %s purged %d cached objects", distribution_id, paths, purged)
            return
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - any failure to read is this call's: it is not served
            self._sync_error = f"{type(error).__name__}: {error}"
            raise ChangeNotApplied(self.name, f"reading the distributions failed: {self._sync_error}") from error
        changed = sync.distribution_id_of(request.path, change.response_body)
        mine = [problem for problem in self._problems if changed and f"distribution {changed}:" in problem]
        if mine:
            raise ChangeNotApplied(self.name, "; ".join(mine))

    def _invalidation_paths(self, distribution_id: str) -> list[str]:
        client = self._client()
        paths: list[str] = []
        for item in client.list_invalidations(DistributionId=distribution_id)["InvalidationList"].get("Items") or []:
            batch = client.get_invalidation(DistributionId=distribution_id, Id=item["Id"])["Invalidation"]["InvalidationBatch"]
            paths += batch["Paths"].get("Items") or []
        return paths

    def refresh(self) -> None:
        """Read every distribution, swap the edges' host table and serve the names at the DNS server."""
        with self._sync_lock:
            found, problems = sync.read_distributions(self._client())
            hosts = {}
            for distribution in found.values():
                for host in (distribution.domain_name, *distribution.aliases):
                    hosts[host] = distribution
            self._by_id, self._hosts, self._problems, self._sync_error = found, hosts, problems, None
            self._serve_names({d.domain_name for d in found.values()})

    def _serve_names(self, names: set[str]) -> None:
        records = self._records
        if records is None or not self.locations or self.context is None:
            return
        nearest = nearest_by_network(self.context.environment)
        by_network = {network: [edge.address] for network, edge in nearest.items()}
        for name in names:
            records.set_routed_record(name, "A", by_network, [self.locations[0].address], DISTRIBUTION_TTL_S)
        for name in self._served_names - names:
            records.remove_routed_record(name)
        self._served_names = set(names)

    def _client(self) -> Any:
        assert self.context is not None, "cloudfront: start the part first"
        return self.context.client("cloudfront", "us-east-1")

    def _s3_get(self, bucket: str, key: str, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """An S3 object as the origin answers it: status, headers, body (runs on the executor)."""
        assert self.context is not None
        region = "us-east-1"
        client = self.context.client("s3", region)
        try:
            answer = client.head_object(Bucket=bucket, Key=key) if method == "HEAD" else client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
            code = error.response.get("Error", {}).get("Code", "")
            body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Key>{key}</Key></Error>".encode()
            return status, [("Content-Type", "application/xml")], body
        headers = [(name, str(answer[field])) for name, field in
                   (("Content-Type", "ContentType"), ("ETag", "ETag"), ("Cache-Control", "CacheControl"),
                    ("Expires", "ExpiresString"), ("Content-Encoding", "ContentEncoding")) if answer.get(field)]
        if answer.get("LastModified") is not None:
            headers.append(("Last-Modified", answer["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")))
        body = b"" if method == "HEAD" else answer["Body"].read()
        return 200, headers, body

    # --- Part protocol: answers, health, status

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return dict(getattr(self.evaluator, "answers", dict)())  # the WAF's GetSampledRequests

    def health(self) -> Health:
        reasons = [f"not served: {problem}" for problem in self._problems]
        if self._sync_error is not None:
            reasons.append(f"reading the distributions failed: {self._sync_error}")
        if self.context is not None and self._loop is None:
            reasons.append("the edge locations are not running")
        reasons += list(getattr(self.evaluator, "problems", list)())  # web ACLs the WAF cannot enforce
        return Health.of(reasons)

    def status(self) -> Mapping[str, Any]:
        port = self.context.environment.local.edge_http_port if self.context else None
        return {
            "edges": {code: {"address": f"{edge.address}:{port}", "cached_objects": len(edge.cache),
                             **edge.stats.as_json(), "origins": edge.origins.stats.as_json()}
                      for code, edge in self.edges.items()},
            "distributions": {d.id: d.domain_name for d in self._by_id.values()},
            "waf": self.evaluator is not None,
            "problems": list(self._problems),
        }
