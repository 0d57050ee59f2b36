"""Interrupt soak: runs killed at random points of random experiments, then `gameday recover` and `gameday scan`.

Prints one JSON object. Each run starts one experiment (pytest, on the running local stack of
$GAMEDAY_INSTANCE, default 8), sends it SIGINT, SIGTERM or SIGKILL at a random moment, waits for it to
end (a SIGINT or SIGTERM rolls back before exiting; after ``--exit-timeout`` it is killed, and that is
counted), then runs `gameday recover` and `gameday scan --json`. Leftovers are what scan still reports
afterwards, by kind: swapped NACLs, inverted health checks, stopped instances, and the DR topology
against the spec (a promoted replica, the writer name elsewhere, Multi-AZ) with the acknowledged orders
only a non-writer copy holds (split brain). Recover's own failures and "not restored" lines are counted too.

Goal (issue 12): 0 leftovers over 50 runs. When a run leaves something, it is counted, then the stack is
put back (`gameday stack build --copy-back-orphaned-orders`) so that the next run starts clean; a run
whose repair fails stops the soak. The journal is a temporary directory of its own.

Bounded: the interrupt comes at most ``--max-at`` s after the start, the run gets ``--exit-timeout`` s to
end, and recover, scan and the repair ``--command-timeout`` s each. When the instance's local stack is not
running, it is started (`gameday stack up --detach`, `gameday stack build`) and stopped at the end.
"""
from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchinstance import bench_instance  # noqa: E402  (beside this script)

EXPERIMENTS = ("test_region_evacuation.py", "test_az_outage.py", "test_lab2_route53_failover.py",
               "test_lab3_multi_az_rds.py")
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


def _gameday(env: dict[str, str], timeout_s: float, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=timeout_s)
    except subprocess.TimeoutExpired as expired:
        return subprocess.CompletedProcess(expired.cmd, 124, str(expired.stdout or ""), f"timed out after {timeout_s} s")


def one_run(number: int, experiment: str, signal_name: str, at_s: float, env: dict[str, str], instance: int,
            exit_timeout_s: float, command_timeout_s: float) -> dict[str, Any]:
    started = time.monotonic()
    victim = subprocess.Popen([sys.executable, "-m", "pytest", str(ROOT / "experiments" / experiment), "-q",
                               "-p", "no:cacheprovider", "--gameday-instance", str(instance)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                              start_new_session=True)
    try:
        victim.wait(timeout=at_s)
        ended_before = True  # the experiment finished before its interrupt
    except subprocess.TimeoutExpired:
        ended_before = False
        victim.send_signal(SIGNALS[signal_name])
    escalated = False
    try:
        _, stderr = victim.communicate(timeout=exit_timeout_s)
    except subprocess.TimeoutExpired:
        escalated = True
        victim.kill()
        _, stderr = victim.communicate(timeout=30)
    exited_s = time.monotonic() - started
    recovered = _gameday(env, command_timeout_s, "recover")
    scanned = _gameday(env, command_timeout_s, "scan", "--json")
    try:
        found = json.loads(scanned.stdout) if scanned.returncode in (0, 1) else None
    except json.JSONDecodeError:
        found = None
    recover_failures = [line for line in recovered.stdout.splitlines()
                        if line.startswith(("failed", "not restored"))]
    result: dict[str, Any] = {
        "run": number, "experiment": experiment, "signal": signal_name, "at_s": round(at_s, 2),
        "ended_before_interrupt": ended_before, "exit_code": victim.returncode, "escalated_to_sigkill": escalated,
        "exited_after_s": round(exited_s, 2),
        "recover_exit": recovered.returncode, "recover_rolled_back": [line.split()[2] for line in recovered.stdout.splitlines()
                                                                       if line.startswith("rolled back")],
        "recover_failures": recover_failures,
        "scan_exit": scanned.returncode,
        "leftovers": found if found is not None else [{"kind": "scan-failed", "detail": (scanned.stderr or scanned.stdout)[-500:]}],
        "seconds": round(time.monotonic() - started, 2),
    }
    if recovered.returncode not in (0, 1):
        result["recover_error"] = (recovered.stderr or recovered.stdout)[-500:]
    if escalated:
        result["stderr_tail"] = stderr[-500:]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random; printed)")
    parser.add_argument("--min-at", type=float, default=1.0, help="earliest interrupt, s after the start")
    parser.add_argument("--max-at", type=float, default=45.0, help="latest interrupt, s after the start")
    parser.add_argument("--exit-timeout", type=float, default=240.0, help="s for an interrupted run to end")
    parser.add_argument("--command-timeout", type=float, default=600.0, help="s for recover, scan and the repair")
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS),
                        help=f"files under experiments/ to pick from (default: {' '.join(EXPERIMENTS)})")
    parser.add_argument("--signals", nargs="+", default=sorted(SIGNALS), choices=sorted(SIGNALS),
                        help="signals to pick from (default: all three)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs: {args.runs} is not allowed; use 1 or more")
    if not 0 < args.min_at <= args.max_at:
        parser.error(f"--min-at {args.min_at} / --max-at {args.max_at}: need 0 < min-at <= max-at")
    unknown = [name for name in args.experiments if not (ROOT / "experiments" / name).is_file()]
    if unknown:
        parser.error(f"--experiments: {unknown} not found under experiments/")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    instance = bench_instance()
    journal = tempfile.mkdtemp(prefix="gameday-soak-journal-")
    atexit.register(shutil.rmtree, journal, True)  # whichever way the soak ends, its journal goes with it
    env = dict(os.environ, GAMEDAY_INSTANCE=str(instance), GAMEDAY_JOURNAL_DIR=journal,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    up = _gameday(env, args.command_timeout, "stack", "status")
    started_here = up.returncode != 0
    if started_here:
        for command in (("stack", "up", "--detach"), ("stack", "build")):
            done = _gameday(env, args.command_timeout, *command)
            if done.returncode != 0:
                print(f"bench_interrupt_soak: `gameday {' '.join(command)}` failed: {(done.stderr or done.stdout)[-500:]}",
                      file=sys.stderr)
                _gameday(env, args.command_timeout, "stack", "down")
                return 1
    try:
        runs, stopped = soak(args, rng, env, instance)
    finally:
        if started_here:
            _gameday(env, args.command_timeout, "stack", "down")
    kinds = collections.Counter(item.get("kind", "?") for run in runs for item in run["leftovers"])
    print(json.dumps({
        "benchmark": "interrupt_soak", "instance": instance, "seed": seed, "runs_requested": args.runs,
        "runs": len(runs), "stopped": stopped, "stack_started_here": started_here,
        "leftovers": sum(kinds.values()), "leftovers_by_kind": dict(kinds),
        "split_brain_orders": kinds.get("split-brain-order", 0),
        "topology_drift": sum(n for kind, n in kinds.items() if kind.startswith(("replica-", "writer-", "multi-az", "zone-"))),
        "recover_failures": sum(len(run["recover_failures"]) for run in runs),
        "runs_with_leftovers": sum(1 for run in runs if run["leftovers"] or run["recover_failures"]),
        "escalated_to_sigkill": sum(1 for run in runs if run["escalated_to_sigkill"]),
        "by_signal": dict(collections.Counter(run["signal"] for run in runs)),
        "by_experiment": dict(collections.Counter(run["experiment"] for run in runs)),
        "goal": "0 leftovers over 50 runs (topology drift and split-brain orders included)",
        "seconds": round(time.monotonic() - started, 1),
        "details": runs,
    }, indent=2))
    return 0


def soak(args: argparse.Namespace, rng: random.Random, env: dict[str, str],
         instance: int) -> tuple[list[dict[str, Any]], str]:
    runs: list[dict[str, Any]] = []
    stopped = ""
    for number in range(1, args.runs + 1):
        run = one_run(number, rng.choice(args.experiments), rng.choice(sorted(args.signals)),
                      rng.uniform(args.min_at, args.max_at), env, instance, args.exit_timeout, args.command_timeout)
        runs.append(run)
        print(json.dumps({"progress": number, "leftovers": len(run["leftovers"]), "experiment": run["experiment"],
                          "signal": run["signal"], "at_s": run["at_s"]}), file=sys.stderr, flush=True)
        if run["leftovers"] or run["recover_failures"]:
            repaired = _gameday(env, args.command_timeout, "stack", "build", "--copy-back-orphaned-orders")
            run["repair_exit"] = repaired.returncode
            if repaired.returncode != 0:
                stopped = f"run {number}: the repair failed: {(repaired.stderr or repaired.stdout)[-500:]}"
                break
    return runs, stopped


if __name__ == "__main__":
    sys.exit(main())
