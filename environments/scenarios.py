"""The names under ``slos.scenarios``: which ones gameday's own experiments judge, and how a misspelt one is caught.

A project's own experiments may judge scenarios under names of their own (``scenario.judge("my_drill")``,
docs/experiments-api.md), so a name the file gives that gameday does not know is not wrong by itself. Two
checks cover the mistake instead: at load, a name one or two keystrokes away from one of gameday's, which
the file does not also give, is refused (``multi_az_failvoer``); when an experiment judges a name the file
does not give, ``objective_missing`` says so, naming the file and the names it does give.
"""
from __future__ import annotations

from collections.abc import Iterable

# Every name gameday's bundled experiments look up under slos.scenarios (tests/environments/test_scenarios.py
# reads them from the experiments, so this list cannot fall behind them).
BUNDLED = (
    "route53_failover",  # test_lab2_route53_failover, and the DNS half of test_edge_accelerator_vs_dns
    "accelerator_vs_dns",  # test_edge_accelerator_vs_dns
    "multi_az_failover",  # test_lab3_multi_az_rds (and the example `gameday init` writes)
    "az_outage",  # test_az_outage, test_fis_az_power_interruption
    "region_evacuation",  # test_region_evacuation
    "dx_loss",  # test_hybrid_dx_loss
    "store_offline",  # test_hybrid_store_offline
    "chaos_schedules",  # test_chaos_schedules (without it: no acknowledged order may be lost)
)
# At most this many keystrokes (a letter added, dropped, changed, or two swapped) apart counts as a misspelling.
TYPO_DISTANCE = 2


def distance(a: str, b: str) -> int:
    """Keystrokes from ``a`` to ``b``: letters added, dropped or changed, and two neighbours swapped."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is most likely a misspelling of, if any is close enough."""
    close = sorted((distance(name, c), c) for c in candidates if c != name and distance(name, c) <= TYPO_DISTANCE)
    return close[0][1] if close else None


def misspelt(given: Iterable[str]) -> list[str]:
    """One problem per name that looks like a misspelling of a bundled scenario the file does not give."""
    names = set(given)
    problems = []
    for name in sorted(names - set(BUNDLED)):
        meant = nearest(name, set(BUNDLED) - names)
        if meant is not None:
            problems.append(f"{name!r} is not a scenario gameday's experiments judge; did you mean {meant!r}? "
                            f"(they judge {', '.join(BUNDLED)}; a scenario of your own experiments may have any "
                            "name that is not a near miss of these)")
    return problems


def objective_missing(scenario: str, given: Iterable[str], source: str) -> str:
    """Why ``judge(scenario)`` has nothing to judge by: the file, the key, and the names the file does give."""
    names = sorted(given)
    meant = nearest(scenario, names)
    hint = f" (is {meant} a misspelling of it?)" if meant is not None else ""
    return (f"{source or 'the environment file'}: slos.scenarios.{scenario}: missing; this experiment judges "
            f"scenario {scenario!r} against it. The file gives: {', '.join(names) or 'none'}{hint}. Add "
            f"slos.scenarios.{scenario} with rto_s (and rpo_s, lost_orders as needed)")
