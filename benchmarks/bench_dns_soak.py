"""Soak the local Route 53 DNS server with malformed datagrams and TCP streams, valid queries interleaved.

The real server (``DnsServer`` + ``Responder``, as the stack runs them) serves a test zone in its own
spawned process on the instance's control address (127.0.N.1, N = $GAMEDAY_INSTANCE, default 9),
so a crash shows as a dead process. This process sends --cases malformed messages (default
100,000; see tests/stack/local/route53/malformed.py: garbage, truncated headers, compression loops,
oversize names, every opcode, odd classes, lying counts, bad EDNS and Client Subnet options), about
85% as UDP datagrams and the rest as TCP streams (whole, cut short, split in pieces, wrong length
prefix, or left stalled open for longer than the server's first-query timeout, from 10 other
addresses). After every --batch malformed messages one valid query goes out, alternately over UDP
and TCP, and must be answered within 1 s.

    GAMEDAY_INSTANCE=6 .venv/bin/python benchmarks/bench_dns_soak.py [--cases 100000] [--budget 600]

Prints one JSON object. Bounded: stops at --budget seconds and says how far it got.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import json
import logging
import multiprocessing
import random
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes import slo
from benchinstance import bench_instance
from tests.stack.local.route53 import malformed

DEFAULT_INSTANCE = 9  # as bench_dns: out of the way of a user's stack (0); every port here is chosen free
CASES = 100_000
BATCH = 50
BUDGET_S = 600.0
ANSWER_WITHIN_S = 1.0
TCP_SHARE = 0.15
STALL_S = 4.0  # stalled TCP streams stay open this long (past the server's 2.5 s first-query timeout)
STALL_SOURCES = 10  # ... from this many addresses, so no address passes the server's per-client limit


# --- the server (spawned process)

def _serve(host: str, pipe: Any) -> None:
    import asyncio

    from stack.local.route53.server import DnsServer
    from tests.stack.local.route53.test_tcp_limits import RECORDS

    errors: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage()[:200])

    logging.getLogger().addHandler(Collect())
    logging.getLogger().setLevel(logging.WARNING)
    with _responder(RECORDS) as responder:
        server = DnsServer(responder, host, 0, logging.getLogger("soak.route53"))

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: errors.append(str(context.get("message"))[:200]))
            await server.start()
            pipe.send(server.port)
            while not pipe.poll():
                await asyncio.sleep(0.05)
            pipe.recv()
            stats = server.tcp_clients.stats
            pipe.send({"responder_counts": dict(responder.counts), "errors_logged": len(errors),
                       "error_examples": errors[:5],
                       "tcp": {"accepted": stats.accepted, "refused_per_client": stats.refused_per_client,
                               "refused_full": stats.refused_full, "evicted": stats.evicted,
                               "timed_out": stats.timed_out}})
            await server.stop()

        asyncio.run(main())


@contextlib.contextmanager
def _responder(records: list[dict[str, Any]]) -> Any:
    from base.timescale import TimeScale
    from stack.local.route53.catalog import ZoneCatalog
    from stack.local.route53.network import NetworkMap
    from stack.local.route53.responder import Responder
    from tests.stack.local.route53.served import environment
    from tests.stack.local.route53.zones import zone_of

    catalog = ZoneCatalog()
    catalog.replace_hosted([zone_of(records)])
    yield Responder(lambda: catalog.zones, lambda _hc: True, NetworkMap.from_environment(environment()), TimeScale(0.1),
                    random.Random(3), logging.getLogger("soak.route53"), version=lambda: 1)


# --- the client (this process)

class Soak:
    def __init__(self, host: str, port: int, source: str, stall_sources: list[str], seed: int) -> None:
        self.server = (host, port)
        self.source = source
        self.stall_sources = itertools.cycle(stall_sources)
        self.rng = random.Random(seed)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((source, 0))
        self.sent: collections.Counter[str] = collections.Counter()
        self.latencies_ms: list[float] = []
        self.unanswered: list[dict[str, Any]] = []
        self.stalled: list[tuple[float, socket.socket]] = []  # (close at, socket)

    def close(self) -> None:
        self.udp.close()
        for _, sock in self.stalled:
            sock.close()

    def datagram(self, wire: bytes) -> None:
        with contextlib.suppress(OSError):  # over 65,507 bytes: the kernel refuses, as for any client
            self.udp.sendto(wire, self.server)

    def stream(self, wire: bytes) -> str:
        """Send ``wire`` over a new TCP connection in one of several broken ways; returns how."""
        how = self.rng.choice(("whole", "whole", "cut", "pieces", "bad_prefix", "pipelined", "stall"))
        prefix = struct.pack("!H", len(wire) & 0xFFFF)
        data = {"whole": prefix + wire, "cut": (prefix + wire)[:self.rng.randint(1, len(wire) + 1)],
                "pieces": prefix + wire, "bad_prefix": struct.pack("!H", self.rng.randrange(65536)) + wire,
                "pipelined": (prefix + wire) * 3 + b"\x00", "stall": (prefix + wire)[:self.rng.randint(0, 1)]}[how]
        while self.stalled and self.stalled[0][0] <= time.monotonic():
            self.stalled.pop(0)[1].close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((next(self.stall_sources) if how == "stall" else self.source, 0))
            sock.settimeout(2)
            sock.connect(self.server)
            if how == "pieces":
                for start in range(0, len(data), 7):
                    sock.send(data[start:start + 7])
            else:
                sock.sendall(data)
        except OSError:
            sock.close()
            return how
        if how == "stall":
            self.stalled.append((time.monotonic() + STALL_S, sock))
        else:
            sock.close()
        return how

    def valid(self, over_tcp: bool) -> None:
        wire = malformed.valid_query(self.rng)
        ident = wire[:2]
        started = time.monotonic()
        answered = False
        try:
            if over_tcp:
                with socket.create_connection(self.server, timeout=ANSWER_WITHIN_S,
                                              source_address=(self.source, 0)) as sock:
                    sock.sendall(struct.pack("!H", len(wire)) + wire)
                    answered = _read_tcp_reply(sock, started + ANSWER_WITHIN_S)[:2] == ident
            else:
                self.udp.sendto(wire, self.server)
                while not answered and time.monotonic() < started + ANSWER_WITHIN_S:
                    self.udp.settimeout(max(0.001, started + ANSWER_WITHIN_S - time.monotonic()))
                    answered = self.udp.recv(65535)[:2] == ident  # replies to garbage are skipped
        except OSError:
            answered = False
        finally:
            self.udp.settimeout(None)
        if answered:
            self.latencies_ms.append((time.monotonic() - started) * 1000)
        else:
            self.unanswered.append({"transport": "tcp" if over_tcp else "udp", "query": wire.hex()})

    def drain_udp(self) -> None:
        self.udp.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                self.udp.recv(65535)
        self.udp.setblocking(True)


def _read_tcp_reply(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65537)
        if not chunk:
            return b""
        data += chunk
    return data[2:]


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest rank (the project's one percentile), rounded for the report."""
    found = slo.percentile(values, q * 100)
    return None if found is None else round(found, 3)


def main(number: int, cases: int, budget_s: float, seed: int) -> dict[str, Any]:
    started = time.monotonic()
    host = f"127.0.{number}.1"
    source = f"127.0.{number}.77"
    spawn = multiprocessing.get_context("spawn")
    parent, child = spawn.Pipe()
    process = spawn.Process(target=_serve, args=(host, child), daemon=True)
    process.start()
    if not parent.poll(30):
        process.kill()
        raise RuntimeError("the DNS server process did not start within 30 s")
    port = parent.recv()
    soak = Soak(host, port, source, [f"127.0.{number}.{100 + i}" for i in range(STALL_SOURCES)], seed)
    kinds: collections.Counter[str] = collections.Counter()
    streams: collections.Counter[str] = collections.Counter()
    done = 0
    try:
        while done < cases and time.monotonic() - started < budget_s and process.is_alive():
            for _ in range(min(BATCH, cases - done)):
                kind, wire = malformed.malformed(soak.rng)
                kinds[kind] += 1
                if soak.rng.random() < TCP_SHARE:
                    streams[soak.stream(wire)] += 1
                else:
                    soak.datagram(wire)
                done += 1
            soak.valid(over_tcp=(done // BATCH) % 2 == 1)
            soak.drain_udp()
        alive = process.is_alive()
        server: dict[str, Any] = {}
        if alive:
            parent.send("stop")
            if parent.poll(30):
                server = parent.recv()
    finally:
        soak.close()
        process.join(10)
        if process.is_alive():
            process.kill()
    valid = len(soak.latencies_ms) + len(soak.unanswered)
    return {
        "benchmark": "dns_soak",
        "server": f"{host}:{port} (its own process)",
        "malformed": {"sent": done, "target": cases, "datagrams": done - sum(streams.values()),
                      "tcp_streams": dict(streams), "kinds": dict(kinds)},
        "valid_queries": {"sent": valid, "answered_within_1s": len(soak.latencies_ms),
                          "unanswered": len(soak.unanswered), "unanswered_examples": soak.unanswered[:5],
                          "latency_ms": {"p50": _percentile(soak.latencies_ms, 0.5),
                                         "p99": _percentile(soak.latencies_ms, 0.99),
                                         "max": round(max(soak.latencies_ms), 3) if soak.latencies_ms else None}},
        "server_alive_at_end": alive,
        "server_exit_code": process.exitcode,
        "server_report": server,
        "goal": "every malformed message sent, server alive, 0 errors logged, 0 valid queries unanswered after 1 s",
        "met": (done >= cases and alive and not soak.unanswered and valid > 0
                and server.get("errors_logged", 1) == 0),
        "elapsed_s": round(time.monotonic() - started, 1),
        "budget_s": budget_s,
    }


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=CASES, help=f"malformed messages (default {CASES})")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help=f"time limit, s (default {BUDGET_S})")
    parser.add_argument("--seed", type=int, default=12)
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.cases <= 10_000_000:
        parser.error(f"--cases {arguments.cases}: must be in 1..10,000,000")
    if not 0 < arguments.budget <= 3600:
        parser.error(f"--budget {arguments.budget}: must be in (0, 3600] s")
    arguments.instance = bench_instance(DEFAULT_INSTANCE)
    return arguments


if __name__ == "__main__":
    options = _arguments()
    print(json.dumps(main(options.instance, options.cases, options.budget, options.seed), indent=1))
