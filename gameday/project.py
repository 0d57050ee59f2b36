"""A gameday project: the directory `gameday run` works in, and where its results go.

A project is the current directory when it holds ``experiments/`` or a pytest configuration that
mentions gameday (``gameday init`` writes both). This repository is one too: its experiments are in
``experiments/`` at its root. Results go into the project, never into the installed package:
``reports/out/<run-id>/`` (the evidence pack and reports) and ``reports/history.jsonl``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from base.errors import GamedayError

CONFIG_FILES = ("pytest.ini", "pyproject.toml")


class NotAProject(GamedayError):
    """The current directory is not a gameday project."""


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def experiments(self) -> Path:
        return self.root / "experiments"

    @property
    def out(self) -> Path:
        return self.root / "reports" / "out"

    @property
    def history(self) -> Path:
        return self.root / "reports" / "history.jsonl"

    def experiment_files(self) -> list[Path]:
        return sorted(self.experiments.glob("test_*.py"))


def _configured(root: Path) -> bool:
    for name in CONFIG_FILES:
        path = root / name
        if path.is_file() and "gameday" in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


def find(directory: Path) -> Project:
    """The project in ``directory``; NotAProject says how to make one."""
    if (directory / "experiments").is_dir() or _configured(directory):
        return Project(directory)
    raise NotAProject(
        f"{directory} is not a gameday project: it has no experiments/ directory and no "
        f"{' or '.join(CONFIG_FILES)} that mentions gameday. Make one with `gameday init DIR`, then "
        f"`cd DIR && gameday run`; or run `gameday run` from your project's directory")
