"""`gameday init DIR`: a new project with one example experiment, its environments and pytest's settings.

The experiment and pytest.ini come from gameday/templates/ (package data). The environments are the
bundled ones at the time of init: local.yaml as it is, aws.yaml from the commented aws-example.yaml.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Callable

from base.errors import GamedayError
from environments import loader

TEMPLATES = Path(__file__).resolve().parent / "templates"

LOCAL_HEADER = """\
# This project's local environment: the local AWS-compatible stack, with SecureCart on it.
# A copy of the one bundled with gameday; `--env local` reads this file first. Edit the SLOs
# (slos.scenarios) to your objectives.
"""
AWS_HEADER = """\
# A real AWS account. Fill in every value, then check the plan first: `gameday run --env aws --dry-run`.
# docs/real-aws.md in gameday's repository explains each field and the IAM policy it needs.
"""


class InitError(GamedayError):
    """gameday init could not write the project."""


class DirectoryNotEmpty(InitError):
    """gameday init writes only into a new or empty directory."""


def files(markers: dict[str, str]) -> dict[str, str]:
    """What init writes: path relative to DIR -> content."""
    marker_lines = "\n".join(f"    {name}: {description}" for name, description in markers.items())
    aws = loader.DIRECTORY.joinpath("aws-example.yaml").read_text(encoding="utf-8")
    aws = aws.replace("name: aws-example", "name: aws", 1)
    written = {
        "pytest.ini": TEMPLATES.joinpath("pytest.ini").read_text(encoding="utf-8").replace("{markers}", marker_lines),
        "environments/local.yaml": LOCAL_HEADER + loader.DIRECTORY.joinpath("local.yaml").read_text(encoding="utf-8"),
        "environments/aws.yaml": AWS_HEADER + aws,
    }
    for template in sorted(TEMPLATES.joinpath("experiments").glob("test_*.py")):
        written[f"experiments/{template.name}"] = template.read_text(encoding="utf-8")
    return written


def init(directory: Path, markers: dict[str, str]) -> list[Path]:
    """Write the project into ``directory`` (created, with missing parents, when missing); refuse one that is not empty.

    All or nothing: a new directory is built under a temporary name beside it and renamed into place; an empty one
    is emptied again when a write fails (a full disk, a file size limit), so a second attempt is not refused.
    """
    planned = files(markers)
    if directory.exists() and not directory.is_dir():
        raise DirectoryNotEmpty(f"{directory} is a file, not a directory; give a new directory")
    if directory.is_dir():
        present = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
        if present:
            clashes = [name for name in planned if (directory / name).exists()]
            what = (f"it would overwrite {', '.join(sorted(clashes))}" if clashes else
                    f"it holds {', '.join(present[:10])}{' and more' if len(present) > 10 else ''}")
            raise DirectoryNotEmpty(f"{directory} is not empty ({what}); give a new or empty directory")
        _write_or_undo(directory, planned, directory, undo=lambda: _empty(directory))
        return [directory / name for name in planned]
    absolute = Path(os.path.abspath(directory))
    top = next(p for p in [absolute, *absolute.parents] if p.parent.exists())  # the first directory to make
    if not top.parent.is_dir():
        raise InitError(f"{directory}: {top.parent} is a file, not a directory; give a new directory")
    staging = top.with_name(f".{top.name}.init-{secrets.token_hex(4)}")
    try:
        staging.mkdir()
    except OSError as error:
        raise InitError(f"cannot create {directory}: {error.strerror} (in {top.parent})") from None
    _write_or_undo(staging / absolute.relative_to(top), planned, directory,
                   undo=lambda: shutil.rmtree(staging, ignore_errors=True))
    try:
        staging.rename(top)  # onto a directory made meanwhile only if that one is empty
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise InitError(f"cannot create {directory}: {error.strerror}; nothing was written") from None
    return [directory / name for name in planned]


def _write_or_undo(into: Path, planned: dict[str, str], directory: Path, undo: Callable[[], None]) -> None:
    for name, content in planned.items():
        path = into / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        except OSError as error:
            undo()
            raise InitError(f"cannot write {directory / name}: {error.strerror}; init wrote nothing (run it again once "
                            "that is fixed)") from None


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
