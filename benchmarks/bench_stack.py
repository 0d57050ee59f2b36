"""Foundation figures: `gameday stack up` to ready (control plane only), building the reference stack, memory.

Prints one JSON object. Uses local stack instance 9 (or $GAMEDAY_BENCH_INSTANCE, else $GAMEDAY_INSTANCE) and
refuses to run when that instance is already up: each run starts it cold and stops it.

Goals: `stack up` (all parts) + `stack build`, cold, <= 5 s; the whole stack's PSS with the reference stack
built <= 400 MiB. The build cannot end before the catalog's global-table replicas are ACTIVE: they are
created one at a time (another UpdateTable is refused while one is CREATING), each CREATING for
dynamodb.replica_creation_s scaled. That floor is AWS's timing, not overhead; it is reported beside the figure.
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
from stack.local import heap, partnames, supervisor
from stack.local.instance import Instance
from stack.local.part import LOCAL_CREDENTIALS

INSTANCE = int(os.environ.get("GAMEDAY_BENCH_INSTANCE") or os.environ.get("GAMEDAY_INSTANCE") or "9")
RUNS = 5
UP_PLUS_BUILD_GOAL_S = 5.0
MEMORY_GOAL_MIB = 400.0


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
    by_kind: dict[str, list[float]] = {}
    for pid in members:
        try:
            kib = sum(int(line.split()[1]) for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:"))
            command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        total_kib += kib
        by_kind.setdefault(_kind(pid, parents.get(pid), command, state), []).append(kib / 1024)
    return {"pss_mib": round(total_kib / 1024, 1), "processes": len(members),
            "by_kind": {kind: {"processes": len(mibs), "pss_mib": round(sum(mibs), 1)}
                        for kind, mibs in sorted(by_kind.items())},
            "goal_max_mib": MEMORY_GOAL_MIB, "met": total_kib / 1024 <= MEMORY_GOAL_MIB}


def _output(pid: int) -> str:
    """Where a process writes its output (a forked child: its own log)."""
    try:
        return os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return ""


def _kind(pid: int, parent: int | None, command: str, state: dict[str, object]) -> str:
    if str(pid) == str(state.get("pid")):
        return "supervisor"
    if "stack.local.zygote" in command:  # a zygote and the children it forked share its command line
        if "ec2.checkout" in command:
            return "checkout zygote" if str(parent) == str(state.get("pid")) else "checkout"
        if str(parent) == str(state.get("pid")):
            return "stack zygote"
        return "fabric" if _output(pid).endswith("/fabric.log") else "warehouse and stores"  # told by their logs
    for needle, kind in (("postgres", "postgresql"), ("ec2.checkout", "checkout"), ("stack.local.fabric", "fabric")):
        if needle in command:
            return kind
    return "other"


def catalog_floor_s(instance: Instance) -> float:
    """The wall seconds the catalog's replicas spend CREATING, one after another: no build ends sooner."""
    environment = instance.resolved()
    return round((len(environment.regions) - 1) * environment.timescale.to_wall(environment.dynamodb.replica_creation_s), 3)


def main() -> None:
    instance = Instance(INSTANCE, loader.load("local"))  # type: ignore[arg-type]
    if supervisor.running_pid(instance) is not None:
        print(json.dumps({"benchmark": "stack", "skipped": f"local stack instance {INSTANCE} is already running; "
                          "each run starts it cold and stops it: stop it, or set GAMEDAY_INSTANCE to a free instance"}))
        return
    ups, builds, rebuilds, control_plane = [], [], [], []
    try:
        for _ in range(RUNS):
            control_plane.append(up_to_ready(instance, parts="none"))
        for _ in range(RUNS):
            ups.append(up_to_ready(instance))
            builds.append(build(instance))
            rebuilds.append(build(instance))
        # At rest: the supervisor returns the heap it freed to the system every TRIM_EVERY_S.
        time.sleep(heap.TRIM_EVERY_S + 1)
        memory = stack_memory_mib(instance)
    finally:
        supervisor.stop(instance)
    cold = [u + b for u, b in zip(ups, builds, strict=True)]
    floor = catalog_floor_s(instance)
    print(json.dumps({
        "benchmark": "stack", "instance": INSTANCE,
        "parts": list(partnames.PARTS),
        "stack_up_to_ready_control_plane_only_s": {"median": round(statistics.median(control_plane), 3),
                                                   "runs": [round(u, 3) for u in control_plane], "goal_max": 3.0},
        "stack_up_to_ready_all_parts_s": {"median": round(statistics.median(ups), 3), "runs": [round(u, 3) for u in ups]},
        "build_reference_stack_s": {"median": round(statistics.median(builds), 3), "runs": [round(b, 3) for b in builds]},
        "up_plus_build_cold_s": {
            "median": round(statistics.median(cold), 3), "runs": [round(c, 3) for c in cold],
            "goal_max": UP_PLUS_BUILD_GOAL_S, "met": statistics.median(cold) <= UP_PLUS_BUILD_GOAL_S,
            "scaled_aws_floor_s": floor, "beyond_floor_median_s": round(statistics.median(cold) - floor, 3),
            "note": "the floor: the catalog's replicas CREATING one after another (dynamodb.replica_creation_s "
                    "scaled, per Region but the home one); the goal is unreachable below it without shortening "
                    "AWS's timings beyond time_scale"},
        "rebuild_idempotent_s": {"median": round(statistics.median(rebuilds), 3)},
        "memory_with_reference_stack": memory,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
