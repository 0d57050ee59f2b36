"""The stores on their Outposts: the till with and without the service link, the link's delay, the backlog's drain.

Prints one JSON object:
- ``till``: a sale's round trip at the store (till -> POS on the store's LAN), p50/p99, with the service
  link up and cut. Goal: the cut adds nothing (p50 within 1 ms): the store sells from local stock.
- ``service_link``: the round trip store -> the cloud's sales ledger over the service link, minus the
  same request from the host itself (no modelled delay), against the store's configured RTT to the
  parent Region. Goal: within 1 ms at p50.
- ``drain``: sales rung up while the link is cut, then the time from its return until the POS has
  synced them all (the ledger acknowledged each), and the rate.

Runs against local stack instance $GAMEDAY_INSTANCE (default 8); starts one if none runs, and stops
only what it started. Run: .venv/bin/python benchmarks/bench_stores.py
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchinstance import bench_instance  # noqa: E402  (beside this script)
from environments.loader import load  # noqa: E402
from environments.model import LocalEnvironment  # noqa: E402
from environments.outposts import POS_PORT, pos_address  # noqa: E402
from stack.local import supervisor  # noqa: E402
from stack.local.fabric.client import FabricClient  # noqa: E402
from stack.local.fabric.process import control_path  # noqa: E402
from stack.local.instance import Instance  # noqa: E402

GOALS = {"till_cut_added_p50_ms": 1.0, "service_link_error_p50_ms": 1.0}
STORE = "store-nyc"
SALES = 200
ROUND_TRIPS = 200
BACKLOG = 500
DRAIN_TIMEOUT_S = 60.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Http:
    """One kept-alive HTTP connection from ``source`` (None: the host itself)."""

    def __init__(self, host: str, port: int, source: str | None) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=10,
                                                     source_address=(source, 0) if source else None)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.connection.request(method, path, body=None if body is None else json.dumps(body),
                                headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def timed(self, method: str, path: str, body: Any = None) -> float:
        started = time.perf_counter()
        status, _ = self.call(method, path, body)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {path} answered {status}")
        return (time.perf_counter() - started) * 1000.0


def stats(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 3), "p99_ms": round(percentile(values, 0.99), 3)}


def main() -> int:
    number = bench_instance()
    environment = load("local")
    assert isinstance(environment, LocalEnvironment)
    instance = Instance(number, environment)
    env = instance.resolved()
    started_here = supervisor.running_pid(instance) is None
    if started_here:
        supervisor.start_detached("local", instance)
    link = f"{STORE}/service-link"
    fabric = FabricClient(str(control_path(instance.state_dir / "fabric")))
    try:
        site = env.sites[env.outposts[STORE].site]
        till_address = str(site.network.network_address + 201)
        till = Http(pos_address(site), POS_PORT, till_address)
        ledger_host, ledger_port = str(till.call("GET", "/status")[1]["ledger"]).rsplit(":", 1)
        sale = {"sku": "coffee", "quantity": 1}
        online = [till.timed("POST", "/sales", sale) for _ in range(SALES)]
        from_store = Http(ledger_host, int(ledger_port), till_address)
        from_host = Http(ledger_host, int(ledger_port), None)
        store_rtt = [from_store.timed("GET", "/health") for _ in range(ROUND_TRIPS)]
        host_rtt = [from_host.timed("GET", "/health") for _ in range(ROUND_TRIPS)]
        fabric.set_link_state(link, False)
        try:
            offline = [till.timed("POST", "/sales", sale) for _ in range(SALES)]
            for _ in range(BACKLOG - SALES):
                till.timed("POST", "/sales", sale)
            pending_at_return = int(till.call("GET", "/status")[1]["pending"])
        finally:
            fabric.set_link_state(link, True)
        returned = time.monotonic()
        while time.monotonic() - returned < DRAIN_TIMEOUT_S:
            if till.call("GET", "/status")[1]["pending"] == 0:
                break
            time.sleep(0.01)
        drain_s = time.monotonic() - returned
        configured = env.sites[env.outposts[STORE].site].rtt_ms[env.outposts[STORE].region]
        added = statistics.median(store_rtt) - statistics.median(host_rtt)
        cut_added = statistics.median(offline) - statistics.median(online)
        result = {
            "instance": number, "load_average": list(os.getloadavg()), "goals": GOALS,
            "till": {"link_up": stats(online), "link_cut": stats(offline), "cut_added_p50_ms": round(cut_added, 3),
                     "met": cut_added <= GOALS["till_cut_added_p50_ms"]},
            "service_link": {"configured_rtt_ms": configured, "store_to_ledger": stats(store_rtt),
                             "host_to_ledger": stats(host_rtt), "added_p50_ms": round(added, 3),
                             "error_p50_ms": round(added - configured, 3),
                             "met": abs(added - configured) <= GOALS["service_link_error_p50_ms"]},
            "drain": {"pending_at_return": pending_at_return, "drain_s": round(drain_s, 3),
                      "sales_per_s": round(pending_at_return / drain_s, 1) if drain_s > 0 else None,
                      "complete": drain_s < DRAIN_TIMEOUT_S},
        }
        print(json.dumps(result, indent=2))
    finally:
        if started_here:
            supervisor.stop(instance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
