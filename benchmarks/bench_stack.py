"""Foundation figures: `gameday stack up` to ready (control plane only), and building the reference stack.

Prints one JSON object. Uses local stack instance 9 so it never touches a user's stack.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import boto3

from environments import loader
from stack import builder
from stack.local import supervisor
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS

INSTANCE = int(os.environ.get("GAMEDAY_BENCH_INSTANCE", "9"))
RUNS = 5


def up_to_ready(instance: Instance, parts: str = "all") -> float:
    supervisor.stop(instance)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "gameday.cli", "stack", "up", "--detach", "--parts", parts], check=True,
                   env=dict(os.environ, GAMEDAY_INSTANCE=str(instance.number)), capture_output=True)
    return time.monotonic() - started


def build(instance: Instance) -> float:
    session = boto3.session.Session(**LOCAL_CREDENTIALS)

    def client(service: str, region: str) -> object:
        return session.client(service, region_name=region, endpoint_url=instance.aws_endpoint)

    started = time.monotonic()
    builder.Builder(instance.resolved(), client).build()
    return time.monotonic() - started


def stack_memory_mib(instance: Instance) -> dict[str, float]:
    """PSS of the supervisor, every process carrying its marker, and their descendants.

    Descendants count separately because PostgreSQL overwrites its environment area with the process
    title, so only postmasters still show the marker.
    """
    state = supervisor.read_state(instance) or {}
    needle = f"{supervisor.MARKER_VARIABLE}={supervisor.marker(instance)}".encode()
    parents: dict[int, int] = {}
    roots: set[int] = {int(state["pid"])} if state.get("pid") else set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = open(f"/proc/{entry}/status").read()
            parents[int(entry)] = int(status.split("PPid:")[1].split()[0])
            if needle in open(f"/proc/{entry}/environ", "rb").read().split(b"\0"):
                roots.add(int(entry))
        except (OSError, IndexError):
            continue
    members = set(roots)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in members} - members
        members |= children
        grew = bool(children)
    total_kib = 0
    for pid in members:
        try:
            total_kib += sum(int(line.split()[1]) for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:"))
        except OSError:
            continue
    return {"pss_mib": round(total_kib / 1024, 1), "processes": len(members)}


def main() -> None:
    instance = Instance(INSTANCE, loader.load("local"))  # type: ignore[arg-type]
    ups, builds, rebuilds, control_plane = [], [], [], []
    try:
        for _ in range(RUNS):
            control_plane.append(up_to_ready(instance, parts="none"))
        for _ in range(RUNS):
            ups.append(up_to_ready(instance))
            builds.append(build(instance))
            rebuilds.append(build(instance))
        memory = stack_memory_mib(instance)
    finally:
        supervisor.stop(instance)
    print(json.dumps({
        "benchmark": "stack",
        "parts": list(supervisor.PARTS),
        "stack_up_to_ready_control_plane_only_s": {"median": round(statistics.median(control_plane), 3),
                                                   "runs": [round(u, 3) for u in control_plane], "goal_max": 3.0},
        "stack_up_to_ready_all_parts_s": {"median": round(statistics.median(ups), 3), "runs": [round(u, 3) for u in ups]},
        "build_reference_stack_s": {"median": round(statistics.median(builds), 3), "runs": [round(b, 3) for b in builds]},
        "rebuild_idempotent_s": {"median": round(statistics.median(rebuilds), 3)},
        "memory_with_reference_stack": memory,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
