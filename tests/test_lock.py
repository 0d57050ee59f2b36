"""The lock files pin what pyproject.toml asks for: a dependency added without `make lock` fails here."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Lock file -> the extras it holds, as requirements/compile.sh makes them (and the Makefile installs them).
LOCKS = {"requirements/gameday.txt": ("local", "charts"), "requirements/test.txt": ("test",)}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$", re.MULTILINE)


def _wanted(extras: tuple[str, ...]) -> list[Requirement]:
    """The core's requirements and those of ``extras``, following an extra that names the project's own."""
    wanted, todo, seen = [Requirement(r) for r in PROJECT["dependencies"]], list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, PROJECT["optional-dependencies"][extra]):
            if canonicalize_name(requirement.name) == PROJECT["name"]:
                todo += sorted(requirement.extras)
            else:
                wanted.append(requirement)
    return wanted


def _pins(lock: str) -> dict[str, list[Version]]:
    pins: dict[str, list[Version]] = {}
    for name, version in PIN.findall((ROOT / lock).read_text()):
        pins.setdefault(canonicalize_name(name), []).append(Version(version))
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_requirement_is_pinned_with_hashes_at_a_version_it_allows(lock: str) -> None:
    pins = _pins(lock)
    for requirement in _wanted(LOCKS[lock]):
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{lock} does not pin {requirement.name}: run `make lock`"
        assert all(requirement.specifier.contains(v, prereleases=True) for v in versions), \
            f"{lock} pins {requirement.name} {versions}, outside {requirement}: run `make lock`"
    text = (ROOT / lock).read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2].strip()):
        assert "--hash=sha256:" in block, f"{lock}: no hash for {block.splitlines()[0]}"


def test_the_gameday_lock_agrees_with_the_test_lock() -> None:
    # Both go into one .venv (`make test` installs the test lock over the gameday lock).
    gameday, test = _pins("requirements/gameday.txt"), _pins("requirements/test.txt")
    assert {name: versions for name, versions in gameday.items() if test.get(name) != versions} == {}


def test_the_gameday_lock_has_no_test_tool_and_moto_has_no_server_tree() -> None:
    gameday = _pins("requirements/gameday.txt")
    for heavy in ("awscli", "cfn-lint", "sympy", "networkx", "docker", "ruff", "mypy"):
        assert heavy not in gameday, f"requirements/gameday.txt pins {heavy}"
