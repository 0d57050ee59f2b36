"""The performance goals, each with the figure one `make bench` run measured and whether it is met.

`make bench` saves every benchmark's JSON as DIR/<bench name>.json, then runs

    .venv/bin/python benchmarks/summary.py DIR

which prints a table (stderr) and one JSON object (stdout): per goal the figure, the goal, ``met`` (true,
false, or null when the benchmark did not produce the figure: skipped, failed, or absent, with the reason)
and the machine's load average, since figures on a shared machine are noisy.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Results = dict[str, dict[str, Any]]  # bench name (e.g. "bench_dns") -> its JSON


@dataclass(frozen=True)
class Goal:
    key: str
    measure: str
    goal: str
    source: str  # the benchmark file that measures it
    figure: Callable[[Results], tuple[float | None, bool | None, str]]  # (figure, met, note)


def _dig(results: Results, bench: str, *path: str) -> Any:
    """results[bench][path...], or None when any step is missing."""
    value: Any = results.get(bench)
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _missing(results: Results, bench: str, *path: str) -> str:
    """Why a figure is absent: the benchmark's own reason when it gave one, along ``path`` (outermost first)."""
    if bench not in results:
        return f"{bench} did not run"
    for depth in range(len(path) + 1):
        scope = _dig(results, bench, *path[:depth])
        if isinstance(scope, dict):
            for key in ("skipped", "error"):
                if scope.get(key):
                    return f"{bench}: {scope[key]}"
    return f"{bench} gave no figure"


def _up_plus_build(results: Results) -> tuple[float | None, bool | None, str]:
    figure = _dig(results, "bench_stack", "up_plus_build_cold_s")
    if not isinstance(figure, dict):
        return None, None, _missing(results, "bench_stack")
    return (figure["median"], figure["met"],
            f"scaled AWS floor {figure['scaled_aws_floor_s']} s (the catalog's replicas); "
            f"beyond it {figure['beyond_floor_median_s']} s")


def _memory(results: Results) -> tuple[float | None, bool | None, str]:
    memory = _dig(results, "bench_stack", "memory_with_reference_stack")
    if not isinstance(memory, dict):
        return None, None, _missing(results, "bench_stack")
    kinds = ", ".join(f"{k} {v['pss_mib']} MiB/{v['processes']}" for k, v in memory.get("by_kind", {}).items())
    return memory["pss_mib"], memory["pss_mib"] <= 400.0, f"{memory['processes']} processes: {kinds}"


def _suite_serial(results: Results) -> tuple[float | None, bool | None, str]:
    wall = _dig(results, "bench_experiments", "suite", "serial", "wall_s")
    if wall is None:
        return None, None, _missing(results, "bench_experiments", "suite", "serial")
    outcomes = _dig(results, "bench_experiments", "suite", "serial", "outcomes") or {}
    passed = _dig(results, "bench_experiments", "suite", "serial", "exit_code") == 0
    return wall, wall <= 75.0 and passed, f"outcomes {outcomes}" + ("" if passed else "; the suite failed")


def _suite_speedup(results: Results) -> tuple[float | None, bool | None, str]:
    speedup = _dig(results, "bench_experiments", "suite", "speedup_n2")
    if speedup is None:
        return None, None, _missing(results, "bench_experiments", "suite", "parallel_n2")
    parallel = _dig(results, "bench_experiments", "suite", "parallel_n2", "wall_s")
    failed = [name for name in ("serial", "parallel_n2")
              if _dig(results, "bench_experiments", "suite", name, "exit_code") != 0]
    outcomes = _dig(results, "bench_experiments", "suite", "parallel_n2", "outcomes") or {}
    note = f"-n 2 wall {parallel} s" + (f"; failed: {', '.join(failed)} (-n 2 outcomes {outcomes})" if failed else "")
    return speedup, speedup >= 1.6 and not failed, note


def _dns_at_rate(results: Results) -> tuple[float | None, bool | None, str]:
    run = _dig(results, "bench_dns", "udp_at_goal_rate")
    if not isinstance(run, dict):
        return None, None, _missing(results, "bench_dns")
    # The p99 counts only if the rate was delivered (answered at >= 98% of the offered rate, none lost) and the
    # health checks were live through that run: requests going out at their rate, and none failing.
    delivered = run["qps"] >= 0.98 * run["offered_qps"] and run["lost"] == 0
    live = _dig(results, "bench_dns", "health_checks_running", "live_during_goal_rate_run") is True
    checks = _dig(results, "bench_dns", "health_checks_running", "during_goal_rate_run") or {}
    return (run["p99_ms"], delivered and live and run["p99_ms"] <= 1.0,
            f"offered {run['offered_qps']} qps, answered {run['qps']} qps, lost {run['lost']}; health checks "
            f"during that run: {checks.get('probe_requests_per_s')} requests/s, "
            f"{checks.get('checkers_failing')} checkers failing")


def _dns_closed(results: Results) -> tuple[float | None, bool | None, str]:
    run = _dig(results, "bench_dns", "udp_closed_loop")
    if not isinstance(run, dict):
        return None, None, _missing(results, "bench_dns")
    return (run["qps"], run["qps"] >= 50000 and run["p99_ms"] <= 1.0,
            f"p99 {run['p99_ms']} ms at that rate, {run['outstanding']} queries outstanding")


def _rto_error(results: Results) -> tuple[float | None, bool | None, str]:
    runs = _dig(results, "bench_experiments", "rto_accuracy", "runs")
    if not runs:
        return None, None, _missing(results, "bench_experiments", "rto_accuracy")
    error = runs[0]["error"]  # the harness's own read timeout comes first
    missed = runs[0].get("missed_outages", 0)
    return (error["max_abs_intervals"], error["max_abs_intervals"] <= 1.0 and not missed,
            f"{error['n']} trials, missed outages {missed}")


def _failover_overhead(results: Results) -> tuple[float | None, bool | None, str]:
    """The worst over both of bench_rds's scales (0.05 for timing, 0.01 in the RPO loop): both must hold."""
    worst: tuple[float, str] | None = None
    notes = []
    for key in ("failover", "failover_at_rpo_scale"):
        timing = _dig(results, "bench_rds", key)
        if not isinstance(timing, dict) or not isinstance(timing.get("overhead_s"), dict):
            continue
        max_ms = round(timing["overhead_s"]["max"] * 1000, 1)
        notes.append(f"time_scale {timing.get('time_scale')}: max {max_ms} ms, "
                     f"median {round(timing['overhead_s']['median'] * 1000, 1)} ms, {timing.get('count')} failovers")
        if worst is None or max_ms > worst[0]:
            worst = (max_ms, key)
    if worst is None:
        return None, None, _missing(results, "bench_rds")
    return worst[0], worst[0] <= 100.0, "; ".join(notes)


GOALS = (
    Goal("stack_up_plus_build_cold_s", "`stack up` (all parts) + `stack build`, cold", "<= 5 s", "bench_stack",
         _up_plus_build),
    Goal("stack_memory_pss_mib", "whole local stack's PSS, reference stack built", "<= 400 MiB", "bench_stack", _memory),
    Goal("failover_suite_serial_s", "`pytest -m failover`, serial, default time_scale", "<= 75 s", "bench_experiments",
         _suite_serial),
    Goal("failover_suite_speedup_n2", "the same, `-n 2` speed-up over serial", ">= 1.6x", "bench_experiments",
         _suite_speedup),
    Goal("dns_p99_ms_at_20k_qps", "DNS p99, 20,000 qps offered, 8 live health checks", "<= 1 ms", "bench_dns",
         _dns_at_rate),
    Goal("dns_closed_loop_qps", "DNS closed loop rate, holding p99 <= 1 ms", ">= 50,000 qps", "bench_dns", _dns_closed),
    Goal("rto_error_max_intervals", "RTO error against injected ground truth, max", "<= 1 sample interval",
         "bench_experiments", _rto_error),
    Goal("failover_overhead_max_ms", "failover overhead beyond the scaled RDS phases, max", "<= 100 ms", "bench_rds",
         _failover_overhead),
)


def summarise(results: Results, load_average: tuple[float, float, float]) -> dict[str, Any]:
    goals = []
    for goal in GOALS:
        try:
            figure, met, note = goal.figure(results)
        except (KeyError, TypeError, ValueError) as error:  # a benchmark's JSON without the expected shape
            figure, met, note = None, None, f"{goal.source}: unreadable figure ({type(error).__name__}: {error})"
        goals.append({"key": goal.key, "measure": goal.measure, "figure": figure, "goal": goal.goal, "met": met,
                      "source": goal.source, "note": note})
    return {"benchmark": "summary", "load_average": [round(x, 2) for x in load_average],
            "cpus": os.cpu_count(), "met": sum(1 for g in goals if g["met"]), "of": len(goals), "goals": goals}


def load_results(directory: Path) -> Results:
    """Each DIR/bench_*.json; a file that is not one JSON object is reported as that benchmark's error."""
    results: Results = {}
    for path in sorted(directory.glob("bench_*.json")):
        try:
            value = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            value = {"error": f"{path} is not JSON: {error}"}
        results[path.stem] = value if isinstance(value, dict) else {"error": f"{path} is not a JSON object"}
    return results


def table(summary: dict[str, Any]) -> str:
    rows = [("measure", "figure", "goal", "met")]
    for goal in summary["goals"]:
        met = {True: "yes", False: "NO", None: "n/a"}[goal["met"]]
        rows.append((goal["measure"], "-" if goal["figure"] is None else str(goal["figure"]), goal["goal"], met))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    load = summary["load_average"]
    lines.append(f"{summary['met']} of {summary['of']} goals met; load average {load[0]} {load[1]} {load[2]} "
                 f"on {summary['cpus']} CPUs")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print(f"usage: {argv[0]} DIR (a directory of bench_*.json, as `make bench` writes)", file=sys.stderr)
        return 2
    summary = summarise(load_results(Path(argv[1])), os.getloadavg())
    print(table(summary), file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
