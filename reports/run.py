"""A run: the scenario results of one game day, with who ran it, where, on what code and settings."""
from __future__ import annotations

import getpass
import os
import secrets
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

from base import clock
from environments.model import AwsEnvironment, LocalEnvironment
from experiments.result import ScenarioResult

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CodeVersion:
    commit: str  # "unknown" outside a git work tree
    dirty: bool  # uncommitted changes to tracked files
    branch: str = ""

    @property
    def text(self) -> str:
        return f"{self.commit[:12]}{' (dirty)' if self.dirty else ''}"


@dataclass(frozen=True)
class SettingInForce:
    name: str
    value: str
    source: str  # option, environment, ini, default, environment file


@dataclass(frozen=True)
class Run:
    run_id: str
    operator: str
    host: str
    code: CodeVersion
    environment: str
    environment_kind: str  # local or aws
    account_id: str
    regions: tuple[str, ...]
    time_scale: float
    started: clock.Instant
    ended: clock.Instant
    settings: tuple[SettingInForce, ...]
    scenarios: tuple[ScenarioResult, ...]
    scope: str = "SecureCart multi-Region DR: failover, AZ outage and Region evacuation rehearsals"
    checkout_p95_latency_slo_ms: float | None = None
    stability_window_s: float | None = None

    @property
    def passed(self) -> bool:
        return bool(self.scenarios) and all(s.outcome == "passed" for s in self.scenarios)


def new_run_id(at: clock.Instant | None = None) -> str:
    """``20250314T120003Z-1a2b3c``: sorts by time, unique across concurrent runs."""
    moment = datetime.fromtimestamp((at or clock.now()).wall_time, timezone.utc)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def code_version(root: Path = PROJECT_ROOT) -> CodeVersion:
    """The git commit and dirty flag of ``root``; "unknown" when git or the work tree is missing."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return CodeVersion("unknown", False)
    return CodeVersion(commit, dirty, branch)


def operator() -> str:
    """Who ran it: $GAMEDAY_OPERATOR (CI sets the person who triggered it), else the login name."""
    try:
        return os.environ.get("GAMEDAY_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def settings_in_force(resolved: object, extra: Mapping[str, tuple[str, str]] | None = None) -> tuple[SettingInForce, ...]:
    """From ``gameday.settings.Resolved`` (value and source of each setting), plus ``extra`` name -> (value, source)."""
    rows = []
    for name, source in sorted(getattr(resolved, "sources", {}).items()):
        rows.append(SettingInForce(name, str(getattr(resolved, name, "")), source))
    rows += [SettingInForce(name, value, source) for name, (value, source) in sorted((extra or {}).items())]
    return tuple(rows)


def create(environment: LocalEnvironment | AwsEnvironment, scenarios: tuple[ScenarioResult, ...], started: clock.Instant,
           ended: clock.Instant, settings: tuple[SettingInForce, ...] = (), run_id: str | None = None,
           scope: str | None = None) -> Run:
    """A Run for ``environment`` (an ``environments.model`` environment), filling who/where/what from this host."""
    extra = {} if scope is None else {"scope": scope}
    return Run(
        run_id=run_id or new_run_id(started), operator=operator(), host=socket.gethostname(), code=code_version(),
        environment=environment.name, environment_kind=environment.kind, account_id=environment.account_id,
        regions=tuple(environment.regions), time_scale=float(environment.time_scale), started=started, ended=ended,
        settings=settings, scenarios=scenarios, checkout_p95_latency_slo_ms=environment.slos.checkout_p95_latency_ms,
        stability_window_s=environment.slos.stability_window_s, **extra)
