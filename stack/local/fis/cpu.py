"""AWSFIS-Run-CPU-Stress on the local stack: real CPU load on the CPU the instance's process runs on.

On AWS the document runs stress-ng on the instance: ``CPU`` workers (0: one per CPU), each busy
``LoadPercent`` of the time, for ``DurationSeconds``; the application competes with them for the
instance's CPUs. Locally an instance is a process on a shared machine, so the instance's CPU is made
one CPU: the checkout process (the ``InstanceProcesses`` service names it) is pinned to it, and the
workers, real processes spinning for ``LoadPercent`` of every 10 ms, are pinned beside it. The
kernel's scheduler then shares that CPU between them as it would on the instance. At the end, or when
the experiment stops, the workers are killed and the process gets its CPUs back; each worker also
exits by itself after the duration, should nobody be left to kill it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping

from stack.local.fis.actions import ActionFailed, Run

PERIOD_S = 0.01
MAX_WORKERS = 4  # on a machine shared with the whole stack, a bound on what one experiment burns
# A worker: busy for `load` of every PERIOD_S, until `deadline` (time.monotonic()), then it exits.
_WORKER = ("import sys, time\n"
           "load, deadline, period = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])\n"
           "while time.monotonic() < deadline:\n"
           "    start = time.monotonic()\n"
           "    while time.monotonic() - start < period * load: pass\n"
           "    time.sleep(max(0.0, period * (1 - load)))\n")


def _settings(parameters: Mapping[str, str]) -> tuple[int, float]:
    try:
        workers, load = int(parameters.get("CPU", "0")), float(parameters.get("LoadPercent", "100"))
    except ValueError as error:
        raise ActionFailed(f"AWSFIS-Run-CPU-Stress: a document parameter is not a number: {error}") from None
    if workers < 0 or not 0 < load <= 100:
        raise ActionFailed(f"AWSFIS-Run-CPU-Stress: CPU {workers} (>= 0) and LoadPercent {load} (1-100) are not valid")
    # The local instance has one CPU, so "one worker per CPU" (0) is one worker.
    return min(max(workers, 1), MAX_WORKERS), load / 100


def stress(run: Run, parameters: Mapping[str, str], seconds: float) -> None:
    if run.processes is None:
        raise ActionFailed("AWSFIS-Run-CPU-Stress needs the ec2 part's processes; this stack runs without it")
    workers, load = _settings(parameters)
    pids = {iid: run.processes.pid_of(iid) for iid in run.ids("Instances")}
    missing = [iid for iid, pid in pids.items() if pid is None]
    if missing:
        raise ActionFailed(f"AWSFIS-Run-CPU-Stress: no process runs {', '.join(missing)} (stopped or not a checkout "
                           f"instance)")
    cpus = sorted(os.sched_getaffinity(0))
    pinned: dict[int, set[int]] = {}
    burners: list[subprocess.Popen[bytes]] = []
    try:
        for index, pid in enumerate(p for p in pids.values() if p is not None):
            cpu = cpus[index % len(cpus)]
            pinned[pid] = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, {cpu})
            deadline = f"{time.monotonic() + seconds + 1.0:.3f}"  # the worker's own end, a second after ours
            for _ in range(workers):
                burner = subprocess.Popen([sys.executable, "-c", _WORKER, str(load), deadline, str(PERIOD_S)],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                burners.append(burner)
                os.sched_setaffinity(burner.pid, {cpu})
        run.applied()
        run.wait(seconds)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        for pid, affinity in pinned.items():
            try:
                os.sched_setaffinity(pid, affinity)
            except ProcessLookupError:
                pass  # the instance stopped meanwhile
