"""The hybrid tier's site links, measured against their model: added latency per path and failover time.

A fabric process of its own with the environment's topology and site links (the instance's addresses,
GAMEDAY_INSTANCE), an echo server in a us-west-2 subnet, and a client at the warehouse site. Prints one
JSON object:

- ``latency``: the round trip added by each path (Direct Connect, the VPN), as the p50 over the site
  minus the p50 of the same echo from the host (no path), against the model: the site's RTT, plus the
  VPN's added RTT and its jitter (a round trip draws it twice: median ``jitter_ms``). Goal: within 1 ms.
- ``failover``: from the Direct Connect link's failure to the first echo over the VPN of bytes sent at the
  failure, with BFD and with the BGP hold time, against the model (detection time, scaled). Goal: within
  one scaled BGP keepalive (30 AWS-s). ``failback``: from the link's return to the first echo at Direct
  Connect's latency.

Run: GAMEDAY_INSTANCE=3 .venv/bin/python benchmarks/bench_hybrid.py
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from environments.loader import load  # noqa: E402
from environments.model import LocalEnvironment  # noqa: E402
from stack.local.fabric.connect import create_connection  # noqa: E402
from stack.local.fabric.part import external_sources, site_links  # noqa: E402
from stack.local.fabric.process import FabricProcess  # noqa: E402
from stack.local.fabric.topology import Subnet, Topology  # noqa: E402
from benchinstance import bench_instance  # noqa: E402  (beside this script)
from stack.local.instance import Instance  # noqa: E402

ROUND_TRIPS = 300
BFD_RUNS = (True, False)
LATENCY_GOAL_MS = 1.0
KEEPALIVE_AWS_S = 30.0
SITE, REGION = "warehouse", "us-west-2"

ECHO = r"""
import asyncio, sys
class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)
async def main(path):
    server = await asyncio.get_running_loop().create_unix_server(Echo, path, backlog=256)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main(sys.argv[1]))
"""


def exchange(sock: socket.socket, payload: bytes = b"ping") -> None:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(len(payload) - len(got))
        if not chunk:
            raise ConnectionError("closed")
        got += chunk


def p50_ms(sock: socket.socket, rounds: int = ROUND_TRIPS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        exchange(sock)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def held_until_delivered_s(client: Any, sock: socket.socket, link: str, up: bool) -> float:
    """Change the link and send at once; seconds until the echo of those bytes comes back."""
    started = time.monotonic()
    client.set_link_state(link, up)
    exchange(sock)
    return time.monotonic() - started


def main() -> None:
    instance = Instance(bench_instance(), load("local"))  # type: ignore[arg-type]
    env: LocalEnvironment = instance.resolved()
    site = env.sites[SITE]
    dx = next(name for name, link in site.links.items() if link.type == "direct_connect")
    vpn = next(name for name, link in site.links.items() if link.type == "vpn")
    subnets = tuple(Subnet(f"subnet-{az}", zone.network, region, az) for region, spec in env.regions.items()
                    for az, zone in spec.availability_zones.items())
    server_subnet = next(s for s in subnets if s.region == REGION)
    directory = Path(tempfile.mkdtemp(prefix="bh-"))
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(directory / "echo.sock")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    fabric = FabricProcess(directory / "fabric")
    result: dict[str, Any] = {"instance": instance.number, "time_scale": env.time_scale,
                              "load_average": os.getloadavg()}
    try:
        assert echo.stdout is not None and echo.stdout.readline() == b"ready\n"
        client = fabric.start()
        client.set_topology(Topology(subnets, external_sources(env, instance), env.region_rtt_ms))
        server = (str(server_subnet.network[200]), client.expose(str(server_subnet.network[200]), 0,
                                                                f"unix:{directory / 'echo.sock'}"))
        site_address = str(site.network[20])
        with create_connection(server, source_address="127.0.0.1", timeout_s=30) as host:
            direct = p50_ms(host)
        model_dx = site.rtt_ms[REGION]
        vpn_link = site.links[vpn]
        model_vpn = site.rtt_ms[REGION] + vpn_link.added_rtt_ms + vpn_link.jitter_ms
        failover = []
        for bfd in BFD_RUNS:
            client.set_site_links(site_links(env, {f"{SITE}/{dx}": bfd}))
            with create_connection(server, source_address=site_address, timeout_s=60) as sock:
                over_dx = p50_ms(sock)
                took = held_until_delivered_s(client, sock, f"{SITE}/{dx}", False)
                over_vpn = p50_ms(sock)
                back = held_until_delivered_s(client, sock, f"{SITE}/{dx}", True)
                after = p50_ms(sock, 50)
            model_s = env.timescale.to_wall(site.links[dx].detection_s(bfd))
            failover.append({"bfd": bfd, "measured_s": round(took, 4), "model_s": model_s,
                             "goal_within_s": env.timescale.to_wall(KEEPALIVE_AWS_S),
                             "met": abs(took - model_s) <= env.timescale.to_wall(KEEPALIVE_AWS_S),
                             "failback_s": round(back, 4), "failback_p50_ms": round(after - direct, 3)})
            if bfd:
                result["latency"] = [
                    {"path": f"{SITE}/{dx}", "added_p50_ms": round(over_dx - direct, 3), "model_ms": model_dx,
                     "met": abs(over_dx - direct - model_dx) <= LATENCY_GOAL_MS},
                    {"path": f"{SITE}/{vpn}", "added_p50_ms": round(over_vpn - direct, 3), "model_ms": model_vpn,
                     "met": abs(over_vpn - direct - model_vpn) <= LATENCY_GOAL_MS}]
        result["direct_p50_ms"] = round(direct, 3)
        result["failover"] = failover
        result["latency_goal_ms"] = LATENCY_GOAL_MS
    finally:
        fabric.stop()
        if echo.stdin is not None:
            echo.stdin.close()
        echo.kill()
        echo.wait()
        for pipe in (echo.stdout,):
            if pipe is not None:
                pipe.close()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
