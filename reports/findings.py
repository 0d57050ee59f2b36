"""The findings file: who owns each deficiency a game day found, how it will be fixed, and by when.

The team keeps it beside the environment file: ``environments/findings/<env>.yaml`` for
``environments/<env>.yaml`` (for ``--env path/prod.yaml``: ``path/findings/prod.yaml``). A finding is
matched to a deficiency by scenario and kind; the after-action section of the report shows its
owner, remediation and due date, and whether later runs confirm it fixed::

    findings:
      - id: DR-142                      # the team's reference (ticket), unique in the file
        scenario: az_outage             # the scenario name the report shows
        deficiency: lost_orders         # rto_breached | rpo_breached | lost_orders | not_rolled_back | slo_breached
        owner: Orders team (J. Doe)
        remediation: Synchronous commit on the orders database before acknowledging an order
        due: 2025-12-15                 # YYYY-MM-DD
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from base import yamlfile
from base.errors import GamedayError

KINDS = ("rto_breached", "rpo_breached", "lost_orders", "not_rolled_back", "slo_breached")
Kind = Literal["rto_breached", "rpo_breached", "lost_orders", "not_rolled_back", "slo_breached"]


class FindingsFileError(GamedayError):
    """The findings file is not valid."""


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=64)
    scenario: str = Field(pattern=r"^[a-z0-9_]+$")
    deficiency: Kind
    owner: str = Field(min_length=1)
    remediation: str = Field(min_length=1)
    due: datetime.date

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.deficiency}"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    findings: list[Finding] = Field(default_factory=list)


@dataclass(frozen=True)
class Findings:
    path: Path
    entries: tuple[Finding, ...]

    def for_key(self, key: str) -> Finding | None:
        return next((f for f in self.entries if f.key == key), None)


def path_for(environment_file: Path) -> Path:
    return environment_file.parent / "findings" / environment_file.name


def _describe(path: Path, error: Any) -> str:
    loc = list(error["loc"])
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(file)"
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return f"{path}: {field}: unknown key; allowed: id, scenario, deficiency, owner, remediation, due"
    if kind == "missing":
        return f"{path}: {field}: required but missing"
    if kind == "literal_error":
        return f"{path}: {field}: {value!r} is not a deficiency kind; allowed: {', '.join(KINDS)}"
    if field.endswith(".due"):
        return f"{path}: {field}: {value!r} is not a date; expected YYYY-MM-DD"
    return f"{path}: {field}: {value!r} is not allowed: {error['msg']}"


def load(path: Path) -> Findings | None:
    """The findings in ``path``, None when there is no such file. Raises FindingsFileError naming every problem."""
    if not path.is_file():
        return None
    try:
        data = yamlfile.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise FindingsFileError(f"{path}: not YAML: {error}") from None
    except yamlfile.DuplicateKeys as error:
        raise FindingsFileError("\n".join(f"{path}: {problem}" for problem in error.problems)) from None
    if data is None:
        return Findings(path, ())
    if not isinstance(data, dict):
        raise FindingsFileError(f"{path}: expected a mapping with the key 'findings', found {type(data).__name__}")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as error:
        raise FindingsFileError("\n".join(_describe(path, e) for e in error.errors())) from None
    problems = []
    for attribute in ("id", "key"):
        seen: dict[str, int] = {}
        for index, finding in enumerate(parsed.findings):
            value = getattr(finding, attribute)
            if value in seen:
                what = "id" if attribute == "id" else "scenario and deficiency"
                problems.append(f"{path}: findings[{index}]: {what} {value!r} is used by findings[{seen[value]}] "
                                f"already; one finding per {what}")
            seen.setdefault(value, index)
    if problems:
        raise FindingsFileError("\n".join(problems))
    return Findings(path, tuple(parsed.findings))
