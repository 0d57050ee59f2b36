"""CloudFront's edge locations on the local stack: latency added on a hit, requests per second on a hit,
and origin failover time against ConnectionAttempts x ConnectionTimeout.

Prints one JSON object:
- ``hit_latency``: a cached object fetched over one keep-alive connection from a vantage point's address,
  p50/p99, less the same round trip to a minimal HTTP responder in this run (``added_*``);
- ``hit_rps``: requests per second one edge answers from its cache, CLIENTS keep-alive connections driven by
  a uvloop child process for RPS_SECONDS;
- ``failover``: a request through an origin group whose primary drops SYNs (a listener with a full
  backlog, so each connection attempt times out) until the secondary answers, against the configured
  ConnectionAttempts x ConnectionTimeout at the stack's time scale.

Runs against the local stack of $GAMEDAY_INSTANCE; when none runs, it starts one with the parts it needs
(fabric, route53, cloudfront) and stops it after. Bounded: about 20 s.

Run: GAMEDAY_INSTANCE=8 .venv/bin/python benchmarks/bench_edge.py
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchinstance import bench_instance  # noqa: E402  (beside this script)
from base import net  # noqa: E402
from environments import loader  # noqa: E402
from environments.model import LocalEnvironment  # noqa: E402
from stack.local.instance import Instance  # noqa: E402
from stack.local.part import LOCAL_CREDENTIALS  # noqa: E402

GOALS = {"added_p50_ms": 0.3, "added_p99_ms": 2.0, "hit_rps": 5000}
HIT_ROUNDS = 2000
CLIENTS = 32
RPS_SECONDS = 3.0
FAILOVER_ATTEMPTS, FAILOVER_TIMEOUT_S = 2, 5  # AWS seconds; CloudFront allows 1-3 attempts of 1-10 s
FAILOVER_REPEATS = 3
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
VANTAGE, EDGE = "frankfurt", "FRA"

# A load generator in a child process, so the measuring process is not the bottleneck of the server measured.
LOAD = textwrap.dedent(r"""
    import asyncio, sys, time, uvloop
    edge, port, host, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    clients, seconds = int(sys.argv[5]), float(sys.argv[6])
    request = f"GET /bench/hit.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    async def one(deadline, counts):
        reader, writer = await asyncio.open_connection(edge, port, local_addr=(source, 0))
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            counts[0] += 1
            counts[1] += b"hit from cloudfront" in head.lower()
        writer.close()
    async def main():
        counts = [0, 0]
        started = time.monotonic()
        await asyncio.gather(*(one(started + seconds, counts) for _ in range(clients)))
        print(counts[0], counts[1], time.monotonic() - started)
    uvloop.run(main())
""")


class _Secondary(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"secondary"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Region", "secondary")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _round_trips(address: str, port: int, host: str, source: str, rounds: int) -> list[float]:
    """Per-request wall ms over one keep-alive connection."""
    request = f"GET /bench/hit.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    times = []
    with socket.create_connection((address, port), timeout=10, source_address=(source, 0)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            started = time.perf_counter()
            conn.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            times.append((time.perf_counter() - started) * 1000)
    return times


def _baseline_server() -> tuple[subprocess.Popen[str], int]:
    """A minimal uvloop HTTP responder (fixed answer): the round trip the edge's own work is measured against."""
    code = textwrap.dedent(r"""
        import asyncio, uvloop
        ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Cache: Hit from cloudfront\r\n\r\nhello, edge\n"
        class P(asyncio.Protocol):
            def connection_made(self, t): self.t, self.buf = t, b""
            def data_received(self, d):
                self.buf += d
                while b"\r\n\r\n" in self.buf:
                    _, _, self.buf = self.buf.partition(b"\r\n\r\n"); self.t.write(ANSWER)
        async def main():
            server = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0)
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.sleep(120)
        uvloop.run(main())
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    return child, int(child.stdout.readline())


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * p / 100 + 0.5) - 1)], 3)


def main(number: int) -> dict[str, Any]:
    base = loader.load("local")
    assert isinstance(base, LocalEnvironment)
    instance = Instance(number, base)
    env = instance.resolved()
    session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(service: str) -> Any:
        return session.client(service, region_name="us-east-1", endpoint_url=instance.aws_endpoint)

    s3, cloudfront, route53 = client("s3"), client("cloudfront"), client("route53")
    edge, port = env.edge_locations[EDGE].address, env.local.edge_http_port
    source = net.vantage_address(env.vantage_points[VANTAGE].subnet)
    run = os.urandom(3).hex()
    bucket = f"bench-edge-{run}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="bench/hit.txt", Body=b"hello, edge\n", ContentType="text/plain", CacheControl="max-age=86400")
    # The failover's origins: a primary that drops SYNs (a full backlog) and a secondary that answers.
    primary = socket.socket()
    primary.bind((instance.control_host, 0))
    primary.listen(0)
    fillers = []
    for _ in range(4):  # fill the accept queue: later SYNs are dropped, so connect() times out
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(primary.getsockname())
        fillers.append(filler)
    secondary = ThreadingHTTPServer((instance.control_host, 0), _Secondary)
    threading.Thread(target=secondary.serve_forever, daemon=True).start()
    zone_name = f"bench-{run}.example."
    zone = route53.create_hosted_zone(Name=zone_name, CallerReference=run)["HostedZone"]["Id"]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": f"{n}.{zone_name}", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": instance.control_host}]}}
        for n in ("primary", "secondary")]})

    def custom(name: str, port_: int) -> dict[str, Any]:
        return {"Id": name, "DomainName": f"{name}.{zone_name}".rstrip("."), "ConnectionAttempts": FAILOVER_ATTEMPTS,
                "ConnectionTimeout": FAILOVER_TIMEOUT_S,
                "CustomOriginConfig": {"HTTPPort": port_, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}

    created = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": bucket, "Comment": "bench_edge", "Enabled": True,
        "Origins": {"Quantity": 3, "Items": [
            {"Id": "assets", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}},
            custom("primary", primary.getsockname()[1]), custom("secondary", secondary.server_address[1])]},
        "OriginGroups": {"Quantity": 1, "Items": [{
            "Id": "api", "FailoverCriteria": {"StatusCodes": {"Quantity": 1, "Items": [503]}},
            "Members": {"Quantity": 2, "Items": [{"OriginId": "primary"}, {"OriginId": "secondary"}]}}]},
        "CacheBehaviors": {"Quantity": 1, "Items": [{"PathPattern": "/api/*", "TargetOriginId": "api", "ViewerProtocolPolicy": "allow-all",
                                                     "CachePolicyId": CACHING_DISABLED}]},
        "DefaultCacheBehavior": {"TargetOriginId": "assets", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "DefaultTTL": 86400, "MaxTTL": 31536000,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
    })["Distribution"]
    host = created["DomainName"]
    baseline, baseline_port = _baseline_server()
    try:
        _round_trips(edge, port, host, source, 1)  # the miss that fills the cache
        hits = _round_trips(edge, port, host, source, HIT_ROUNDS)
        direct = _round_trips("127.0.0.1", baseline_port, host, "127.0.0.1", HIT_ROUNDS)
        load = subprocess.run([sys.executable, "-c", LOAD, edge, str(port), host, source, str(CLIENTS), str(RPS_SECONDS)],
                              capture_output=True, text=True, timeout=RPS_SECONDS + 30, check=True).stdout.split()
        requests, hit_count, elapsed = int(load[0]), int(load[1]), float(load[2])
        failovers = []
        for _ in range(FAILOVER_REPEATS):
            started = time.perf_counter()
            with socket.create_connection((edge, port), timeout=30, source_address=(source, 0)) as conn:
                conn.sendall(f"GET /api/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
            failovers.append((time.perf_counter() - started, answer.split(b"\r\n")[0].decode(), b"X-Region: secondary" in answer))
        model_wall_s = env.timescale.to_wall(FAILOVER_ATTEMPTS * FAILOVER_TIMEOUT_S)
        added_p50 = round(_pct(hits, 50) - _pct(direct, 50), 3)
        added_p99 = round(_pct(hits, 99) - _pct(direct, 99), 3)
        rps = round(requests / elapsed)
        return {
            "benchmark": "edge", "instance": number, "time_scale": env.time_scale, "edge": EDGE,
            "hit_latency": {"rounds": HIT_ROUNDS, "hit_p50_ms": _pct(hits, 50), "hit_p99_ms": _pct(hits, 99),
                            "direct_p50_ms": _pct(direct, 50), "direct_p99_ms": _pct(direct, 99),
                            "added_p50_ms": added_p50, "added_p99_ms": added_p99,
                            "goal_p50_ms": GOALS["added_p50_ms"], "goal_p99_ms": GOALS["added_p99_ms"],
                            "met": added_p50 <= GOALS["added_p50_ms"] and added_p99 <= GOALS["added_p99_ms"]},
            "hit_rps": {"clients": CLIENTS, "seconds": round(elapsed, 2), "requests": requests, "hits": hit_count, "rps": rps,
                        "goal": GOALS["hit_rps"], "met": rps >= GOALS["hit_rps"]},
            "failover": {"connection_attempts": FAILOVER_ATTEMPTS, "connection_timeout_aws_s": FAILOVER_TIMEOUT_S,
                         "model_wall_s": round(model_wall_s, 3),
                         "measured_wall_s": [round(f[0], 3) for f in failovers], "answers": [f[1] for f in failovers],
                         "served_by_secondary": all(f[2] for f in failovers),
                         "measured_aws_s": [round(env.timescale.to_aws(f[0]), 2) for f in failovers],
                         "met": all(f[2] and model_wall_s <= f[0] <= model_wall_s + 0.5 for f in failovers)},
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        baseline.kill()
        baseline.wait()
        config = cloudfront.get_distribution_config(Id=created["Id"])
        etag = cloudfront.update_distribution(Id=created["Id"], IfMatch=config["ETag"],
                                              DistributionConfig=config["DistributionConfig"] | {"Enabled": False})["ETag"]
        cloudfront.delete_distribution(Id=created["Id"], IfMatch=etag)
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": {"Name": f"{n}.{zone_name}", "Type": "A", "TTL": 60,
                                                       "ResourceRecords": [{"Value": instance.control_host}]}}
            for n in ("primary", "secondary")]})
        route53.delete_hosted_zone(Id=zone)
        s3.delete_object(Bucket=bucket, Key="bench/hit.txt")
        s3.delete_bucket(Bucket=bucket)
        secondary.shutdown()
        for sock in (primary, *fillers):
            sock.close()


def _gameday(number: int, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *command], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GAMEDAY_INSTANCE": str(number)})


if __name__ == "__main__":
    number = bench_instance()
    started = _gameday(number, "stack", "status").returncode != 0  # nothing running: ours to start and stop
    try:
        if started:
            _gameday(number, "stack", "up", "--detach", "--parts", "fabric,route53,cloudfront").check_returncode()
        print(json.dumps(main(number), indent=1))
    finally:
        if started:
            _gameday(number, "stack", "down")
