"""The DNS benchmark's two helper processes: the UDP load generator and the farm of health-checked HTTP
endpoints. Each runs in its own spawned process, so neither shares a GIL with the DNS server it measures."""
from __future__ import annotations

import http.server
import ipaddress
import multiprocessing
import os
import socket
import struct
import threading
import time
from typing import Any

import dns.edns
import dns.message

ZONE = "bench.example."  # the benchmark's hosted zone

# --- load generator

def queries(vantage_subnets: list[str]) -> list[bytes]:
    """A mix: latency and geolocation with ECS from each vantage point, simple, NXDOMAIN, weighted."""
    wires = []
    for subnet in vantage_subnets:
        network = ipaddress.ip_network(subnet)
        option = dns.edns.ECSOption(str(network.network_address), network.prefixlen)
        for name in (f"checkout.{ZONE}", f"geo.{ZONE}"):
            wires.append(dns.message.make_query(name, "A", use_edns=0, options=[option]).to_wire())
    wires.append(dns.message.make_query(f"www.{ZONE}", "A").to_wire())
    wires.append(dns.message.make_query(f"missing.{ZONE}", "A").to_wire())
    wires.append(dns.message.make_query(f"weighted.{ZONE}", "A").to_wire())  # random: never from the cache
    return wires


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(host: str, port: int, wires: list[bytes], rate_qps: float, seconds: float,
          concurrency: int) -> dict[str, float]:
    """Open loop at ``rate_qps`` (0: closed loop with ``concurrency`` outstanding) for ``seconds``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.connect((host, port))
    sock.setblocking(False)
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    sent = 0
    start = time.perf_counter()
    end = start + seconds

    def receive() -> None:
        while True:
            try:
                reply = sock.recv(4096)
            except BlockingIOError:
                return
            now = time.perf_counter()
            sent_time = sent_at.pop(struct.unpack("!H", reply[:2])[0], None)
            if sent_time is not None:
                latencies.append((now - sent_time) * 1000)

    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if rate_qps:
            due = start + sent / rate_qps
            if now < due:
                receive()
                if due - time.perf_counter() > 0.0005:
                    time.sleep(0.0002)
                continue
        elif len(sent_at) >= concurrency:
            receive()
            if len(sent_at) >= concurrency:
                # Anything outstanding for 1 s is lost; forget it so the loop keeps going.
                stale = [k for k, t in sent_at.items() if now - t > 1.0]
                for k in stale:
                    del sent_at[k]
            continue
        ident = sent % 65536
        wire = struct.pack("!H", ident) + wires[sent % len(wires)][2:]
        sent_at[ident] = time.perf_counter()
        sock.send(wire)
        sent += 1
    drain_until = time.perf_counter() + 0.5
    while sent_at and time.perf_counter() < drain_until:
        receive()
        time.sleep(0.001)
    elapsed = seconds
    sock.close()
    return {
        "sent": sent,
        "answered": len(latencies),
        "lost": sent - len(latencies),
        "qps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3) if latencies else float("nan"),
    }


def loader(host: str, port: int, subnets: list[str], plan: list[tuple[float, float, int]], out: Any,
           cpus: set[int] | None = None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    wires = queries(subnets)
    results = []
    for rate, seconds, concurrency in plan:
        began = time.time()  # wall clock: the server's process compares it with its health checks' timestamps
        results.append(load(host, port, wires, rate, seconds, concurrency) | {"began": began, "ended": time.time()})
    single, unanswered = [], 0
    for i in range(300):  # dig-style: a fresh socket, one query, wait for the answer
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)
            t0 = time.perf_counter()
            sock.sendto(wires[i % len(wires)], (host, port))
            try:
                sock.recv(4096)
            except TimeoutError:
                unanswered += 1
                continue
            single.append((time.perf_counter() - t0) * 1000)
    out.send({"runs": results, "single_p50_ms": round(percentile(single, 0.5), 3),
              "single_p99_ms": round(percentile(single, 0.99), 3), "single_unanswered": unanswered})
    out.close()


# --- the stack under test

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def _farm(addresses: list[str], commands: Any) -> None:
    """The endpoints' process (a checkout fleet stand-in): serves each address; obeys kill/stall/start."""
    # On AWS the endpoints are other hosts. Here they share the DNS server's CPU, and at normal priority each
    # health-check request they woke for preempted the server mid-query (a loopback connect or write runs the
    # woken receiver at once): that, not the server, was most of its p99 (0.55-0.78 ms; 0.17-0.29 ms with the
    # endpoints idle-scheduled). SCHED_IDLE gives them only CPU time the server leaves, as other hosts would;
    # the benchmark checks that the probes went out at their rate and none failed during the measured run.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    servers: dict[str, Any] = {}
    silent: dict[str, socket.socket] = {}
    ports: dict[str, int] = {}

    def start(address: str) -> None:
        server = http.server.ThreadingHTTPServer((address, ports.get(address, 0)), _Handler)
        server.daemon_threads = True
        ports[address] = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers[address] = server

    def kill(address: str) -> None:
        server = servers.pop(address)
        server.shutdown()
        server.server_close()

    for address in addresses:
        start(address)
    commands.send(ports)
    while True:
        command, address = commands.recv()
        if command == "quit":
            for a in list(servers):
                kill(a)
            commands.send("bye")
            return
        if command in ("kill", "stall"):
            kill(address)
            if command == "stall":
                # What a fabric NACL deny looks like: the kernel accepts, nothing ever answers.
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, ports[address]))
                sock.listen(512)
                silent[address] = sock
        elif command == "start":
            if address in silent:
                silent.pop(address).close()
            start(address)
        commands.send("ok")


class Farm:
    """Endpoints in their own process, so their threads do not compete with the DNS server for the GIL."""

    def __init__(self, addresses: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_farm, args=(addresses, child), daemon=True)
        self._process.start()
        if not self._pipe.poll(20):
            raise RuntimeError("the endpoint process did not start within 20 s")
        self.ports: dict[str, int] = self._pipe.recv()

    def command(self, command: str, address: str = "") -> None:
        self._pipe.send((command, address))
        if not self._pipe.poll(10):
            raise RuntimeError(f"the endpoint process did not confirm {command} {address}")
        self._pipe.recv()

    def close(self) -> None:
        try:
            self.command("quit")
        finally:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()


