"""A running DNS server for the tests: the real server on 127.0.0.1, port 0, over a test zone."""
from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Iterator

import dns.edns
import dns.message
import dns.query

from base.timescale import TimeScale
from environments.loader import load
from environments.model import LocalEnvironment
from stack.local.route53.catalog import ZoneCatalog
from stack.local.route53.loop import LoopThread
from stack.local.route53.network import NetworkMap
from stack.local.route53.responder import Responder
from stack.local.route53.server import DnsServer

from .zones import zone_of

HOST = "127.0.0.1"


@dataclass
class Served:
    host: str
    port: int
    catalog: ZoneCatalog
    responder: Responder
    unhealthy: set[str] = field(default_factory=set)

    def query(self, name: str, rtype: str = "A", *, subnet: str | None = None, tcp: bool = False,
              source: str | None = None, use_edns: int | bool = 0, payload: int = 1232,
              ) -> dns.message.Message:
        options = []
        if subnet is not None:
            address, prefix = subnet.split("/")
            options.append(dns.edns.ECSOption(address, int(prefix)))
        message = dns.message.make_query(name, rtype, use_edns=use_edns, payload=payload, options=options or None)
        if tcp:
            return dns.query.tcp(message, self.host, port=self.port, timeout=2, source=source)
        return dns.query.udp(message, self.host, port=self.port, timeout=2, source=source)


def environment() -> LocalEnvironment:
    env = load("local")
    assert isinstance(env, LocalEnvironment)
    return env


@contextlib.contextmanager
def running(records: list[dict[str, Any]], time_scale: float = 0.1) -> Iterator[Served]:
    loop = LoopThread("test-route53-dns")
    catalog = ZoneCatalog()
    catalog.replace_hosted([zone_of(records)])
    unhealthy: set[str] = set()
    responder = Responder(lambda: catalog.zones, lambda hc: hc not in unhealthy,
                          NetworkMap.from_environment(environment()), TimeScale(time_scale), random.Random(3),
                          logging.getLogger("test-route53"))
    server = DnsServer(responder, HOST, 0)
    try:
        loop.run(server.start())
        yield Served(HOST, server.port, catalog, responder, unhealthy)
    finally:
        try:
            loop.run(server.stop())
        finally:
            loop.stop()
