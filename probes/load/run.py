"""Run a load plan in a child process and read back every request it made.

``run`` never imports Locust: the child (``python -m probes.load.child``) does, with gevent's
monkey-patching confined to it. The child is bounded twice: by the plan's duration, and by a kill
after ``duration_s + startup_s`` should it hang. What it made is a ``LoadResult``: per crowd, each
request's start (seconds after the run started), HTTP status (0: no answer) and latency in ms.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from base.errors import ProbeError
from probes.load.plan import LoadPlan
from probes.slo import percentile

STARTUP_S = 30.0  # importing Locust and spawning the users, on a busy machine
_ROOT = Path(__file__).resolve().parents[2]  # the directory that holds the probes package


class LoadError(ProbeError):
    """The load run failed before it could report."""


@dataclass(frozen=True)
class Request:
    at_s: float  # when it started, seconds after the run started
    status: int  # 0: no HTTP answer
    latency_ms: float
    source: str = ""  # the user's source address ("" when the crowd has no subnet)


@dataclass(frozen=True)
class CrowdResult:
    name: str
    requests: tuple[Request, ...]

    @property
    def statuses(self) -> dict[int, int]:
        return dict(sorted(Counter(r.status for r in self.requests).items()))

    def count(self, status: int | None = None, since_s: float = 0.0) -> int:
        return sum(1 for r in self.requests if r.at_s >= since_s and (status is None or r.status == status))

    def percentile_ms(self, p: float, status: int | None = None, since_s: float = 0.0) -> float | None:
        return percentile([r.latency_ms for r in self.requests if r.at_s >= since_s and (status is None or r.status == status)], p)

    def first_at_s(self, status: int | None = None) -> float | None:
        """When the first request (with ``status``, if given) started, or None."""
        return min((r.at_s for r in self.requests if status is None or r.status == status), default=None)

    def by_source(self) -> dict[str, "CrowdResult"]:
        """One result per source address (per user): WAF's rate-based rules count per IP."""
        sources = sorted({r.source for r in self.requests})
        return {s: CrowdResult(f"{self.name}@{s}", tuple(r for r in self.requests if r.source == s)) for s in sources}

    def rate_per_s(self, duration_s: float) -> float:
        return len(self.requests) / duration_s if duration_s > 0 else 0.0


@dataclass(frozen=True)
class LoadResult:
    started_at: float  # epoch seconds
    duration_s: float
    crowds: dict[str, CrowdResult]
    labels: dict[str, str]

    def summary(self) -> dict[str, dict[str, object]]:
        """Per crowd: requests, achieved rate, statuses, latency p50/p95/p99 (ms) — the figures a report shows."""
        return {name: {"requests": len(crowd.requests), "rate_per_s": round(crowd.rate_per_s(self.duration_s), 2),
                       "statuses": {str(k): v for k, v in crowd.statuses.items()},
                       "p50_ms": crowd.percentile_ms(50), "p95_ms": crowd.percentile_ms(95), "p99_ms": crowd.percentile_ms(99)}
                for name, crowd in self.crowds.items()}


def parse(text: str) -> LoadResult:
    raw = json.loads(text)
    crowds = {name: CrowdResult(name, tuple(Request(float(at), int(status), float(ms), str(source)) for at, status, ms, source in rows))
              for name, rows in raw["crowds"].items()}
    return LoadResult(float(raw["started_at"]), float(raw["duration_s"]), crowds, dict(raw.get("labels") or {}))


def run(plan: LoadPlan, log_path: Path | None = None, startup_s: float = STARTUP_S) -> LoadResult:
    """Run ``plan`` in a child process; its output goes to ``log_path`` (a temporary file when None)."""
    with tempfile.TemporaryDirectory(prefix="gameday-load-") as scratch:
        plan_path, result_path = Path(scratch, "plan.json"), Path(scratch, "result.json")
        plan_path.write_text(plan.to_json())
        log = log_path or Path(scratch, "locust.log")
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        with open(log, "ab") as output:
            child = subprocess.Popen([sys.executable, "-m", "probes.load.child", str(plan_path), str(result_path)],
                                     stdout=output, stderr=subprocess.STDOUT, env=environment, cwd=str(_ROOT))
            try:
                code = child.wait(timeout=plan.duration_s + startup_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                raise LoadError(f"the load run did not finish within {plan.duration_s + startup_s:g} s and was killed; "
                                f"its log: {_tail(log)}") from None
        if code != 0 or not result_path.exists():
            raise LoadError(f"the load run failed (exit {code}); its log: {_tail(log)}")
        return parse(result_path.read_text())


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
