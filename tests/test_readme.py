"""The README's commands and the files the docs and the code cite.

Every command in a fenced shell block of the README must be checked somewhere:
- `make X`: X is a target of the Makefile (whose `test` target CI runs, through .ci/run);
- `gameday ...`: the whole command line parses with the CLI's own parser;
- `pytest -m failover`: the Makefile's `test` target runs exactly that;
- `pip install ...`: the extras and files it names exist (the Makefile installs the lock files so);
- anything else must be listed in OTHER_COMMANDS with the test that runs it.
Every relative link and every cited repository path in README.md and docs/*.md exists, and so does
every docs/*.md file a Python module names.
"""
from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from gameday import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAKEFILE = (ROOT / "Makefile").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# README commands that are neither make, gameday, pytest nor pip: the test that runs each, and a string that
# test must contain (the command's distinctive argument).
OTHER_COMMANDS = {
    "export": ("tests/stack/local/controlplane/test_validation.py", 'AWS_ACCESS_KEY_ID="testing"'),
    "aws": ("tests/stack/local/controlplane/test_validation.py", "RequestInterval=20"),
    "dig": ("tests/stack/local/cloudfront/test_edge_stack.py", "+subnet="),
    "curl": ("tests/stack/local/cloudfront/test_edge_stack.py", "--interface"),
}
# Top-level folders whose paths the docs cite; a cited path under them must exist.
# gameday's packages: a code span `package.module.Class` names a class that must exist.
PACKAGES = ("base", "environments", "stack", "faults", "probes", "experiments", "reports", "gameday")
CITED_ROOTS = ("base", "benchmarks", "docs", "environments", "experiments", "faults", "gameday", "iam", "probes",
               "reports", "requirements", "stack", "tests", ".ci")
# Paths the docs tell a user to create or that a run writes: not in the repository by design.
NOT_IN_THE_REPOSITORY = ("reports/out", "reports/history.jsonl", "environments/staging.yaml",
                         "environments/mine.yaml",
                         # what `gameday init DIR` writes into a new project (gameday/scaffold.py)
                         "environments/aws.yaml", "experiments/test_orders_database_failover.py")


def _commands(markdown: str) -> list[str]:
    """The commands of the fenced shell blocks: continuation lines joined, comments and output dropped."""
    commands = []
    for language, body in FENCE.findall(markdown):
        if language not in ("sh", "shell", "bash", "console"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def _targets() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*):", MAKEFILE, re.MULTILINE)}


def _recipe(target: str) -> str:
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    assert match, f"the Makefile has no recipe for {target}"
    return match.group(1)


README_COMMANDS = _commands(README.read_text())


def test_the_readme_has_commands_to_check() -> None:
    assert any(c.startswith("make ") for c in README_COMMANDS) and any("gameday " in c for c in README_COMMANDS)


@pytest.mark.parametrize("command", README_COMMANDS)
def test_each_readme_command_is_run_by_a_test_or_by_ci(command: str, tmp_path: Path) -> None:
    words = shlex.split(command)
    program = Path(words[0]).name
    if program == "make":
        for target in words[1:]:
            assert target in _targets(), f"README: `{command}`: the Makefile has no target {target!r}"
        assert "make test" in (ROOT / ".ci" / "run").read_text(), "CI no longer runs `make test`"
    elif program == "gameday":
        pack = tmp_path / "pack"
        pack.mkdir()
        args = [str(pack) if re.fullmatch(r"reports/out/<[\w-]+>", w) else w for w in words[1:]]
        try:
            cli.parser().parse_args(args)
        except SystemExit as error:
            pytest.fail(f"README: `{command}` does not parse (exit {error.code})")
    elif program == "pytest":
        assert " ".join(words[1:]) == "-m failover", f"README: `{command}`: which test or CI job runs it?"
        assert re.search(r"pytest -m failover\b", _recipe("test")), "`make test` no longer runs `pytest -m failover`"
    elif program == "pip":
        for word in words[2:]:
            extras = re.fullmatch(r"\.\[([\w,-]+)\]", word)
            for extra in extras.group(1).split(",") if extras else ():
                assert extra in PROJECT["optional-dependencies"], f"README: `{command}`: no extra {extra!r}"
        for option in ("-c", "-r"):
            if option in words:
                assert (ROOT / words[words.index(option) + 1]).is_file(), f"README: `{command}`: no such file"
        if "--require-hashes" in words:  # the Makefile installs exactly so (and CI runs the Makefile)
            assert "--require-hashes -r" in MAKEFILE and words[-1] in MAKEFILE, f"README: `{command}`"
    else:
        assert program in OTHER_COMMANDS, f"README: `{command}`: add the test that runs it to OTHER_COMMANDS"
        test, needle = OTHER_COMMANDS[program]
        assert needle in (ROOT / test).read_text(), f"README: `{command}`: {test} no longer runs it"


def _cited_paths(markdown: str) -> set[str]:
    """Relative link targets, and code spans or bare words that name a path under a repository folder."""
    links = {t.split("#", 1)[0] for t in re.findall(r"\]\(([^)\s]+)\)", markdown)
             if not re.match(r"[a-z]+:|#", t)}
    roots = "|".join(map(re.escape, CITED_ROOTS))
    found = re.findall(rf"(?<![\w./<~-])((?:{roots})/[\w./<>*-]*)", markdown)
    words = {w.rstrip(".") for w in found if "<" not in w and "*" not in w}  # a placeholder is not a path
    return {p for p in links | words if p}


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_path_a_document_cites_exists(document: Path) -> None:
    missing = []
    for cited in sorted(_cited_paths(document.read_text())):
        if cited.startswith(NOT_IN_THE_REPOSITORY):
            continue
        if not (document.parent / cited).exists() and not (ROOT / cited).exists():
            missing.append(cited)
    assert not missing, f"{document.relative_to(ROOT)} cites what does not exist: {missing}"


def test_every_doc_the_code_names_exists() -> None:
    missing = []
    for module in sorted(ROOT.glob("[!.]*/**/*.py")):
        if ".venv" in module.parts:
            continue
        for cited in re.findall(r"\bdocs/[\w./-]*\.(?:md|yml|png)", module.read_text(errors="replace")):
            if not (ROOT / cited).exists():
                missing.append(f"{module.relative_to(ROOT)}: {cited}")
    assert not missing, missing


def test_every_cited_markdown_file_is_in_the_repository() -> None:
    # A document users cannot open is no documentation: every *.md named in the README, the docs or the
    # code must be a file of this repository, and no document may point outside it with a ../ path.
    ours = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    texts = {p: p.read_text(errors="replace") for p in [README, *DOCS, *ROOT.glob("[!.]*/**/*.py")]
             if not {".venv", "build"} & set(p.parts)}
    cites = [f"{p.relative_to(ROOT)}: {name}" for p, text in texts.items()
             for name in sorted(set(re.findall(r"[\w.-]+\.md\b", text))) if name.split("/")[-1] not in ours]
    outside = [f"{p.relative_to(ROOT)}: {path}" for p in [README, *DOCS]
               for path in sorted(set(re.findall(r"\.\./[\w./-]+", texts[p])))]
    assert not cites, cites
    assert not outside, outside


def test_make_clean_keeps_the_evidence_packs() -> None:
    # The packs and the runs' history are an auditor's record: a clean removes only what `make` can rebuild.
    removed = shlex.split(_recipe("clean").split("rm -rf", 1)[1])
    assert "$(VENV)" in removed and ".lock-venv" in removed
    assert not [path for path in removed if path.startswith("reports")], removed


@pytest.mark.parametrize("document", [README, ROOT / "docs" / "architecture.md"], ids=lambda p: p.name)
def test_every_extra_has_a_row_in_the_extras_table(document: Path) -> None:
    rows = set(re.findall(r"^\| `([\w-]+)` \|", document.read_text(), re.MULTILINE))
    missing = sorted(set(PROJECT["optional-dependencies"]) - rows)
    assert not missing, f"{document.name}: no row for the extra(s) {missing} of pyproject.toml"


@pytest.mark.parametrize("document", [README, ROOT / "docs" / "experiments-api.md"], ids=lambda p: p.name)
def test_the_marker_list_names_every_marker_gameday_registers(document: Path) -> None:
    from gameday.plugin import MARKERS

    line = next(p for p in document.read_text().split("\n\n") if p.startswith(("Markers: ", "`failover`, `gameday`")))
    assert set(re.findall(r"`(\w+)`", line)) == set(MARKERS), line


def test_every_class_the_documents_name_by_its_module_exists() -> None:
    import importlib

    roots = "|".join(PACKAGES)
    named = {m for document in [README, *DOCS]
             for m in re.findall(rf"`((?:{roots})(?:\.[a-z_]\w*)*)\.([A-Z]\w*)`", document.read_text())}
    assert named
    missing = [f"{module}.{name}" for module, name in sorted(named)
               if not hasattr(importlib.import_module(module), name)]
    assert not missing, missing


def test_the_readme_shows_the_real_message_of_a_bad_environment_file(tmp_path: Path) -> None:
    from base.errors import EnvironmentFileError
    from environments import loader

    shown = re.search(r"^environments/mine\.yaml: (.*)$", README.read_text(), re.MULTILINE)
    assert shown, "the README no longer shows a bad environment file's message"
    bad = loader.DIRECTORY.joinpath("local.yaml").read_text().replace("127.200.3.0/24", "10.0.3.0/24", 1)
    (tmp_path / "mine.yaml").write_text(bad)
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(tmp_path / "mine.yaml"))
    assert str(raised.value) == f"{tmp_path / 'mine.yaml'}: {shown.group(1)}"


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_document_repeats_a_passage(document: Path) -> None:
    # A pasted copy drifts from its original: four non-blank lines in a row may appear only once.
    lines = document.read_text().splitlines()
    seen: dict[tuple[str, ...], int] = {}
    for start in range(len(lines) - 3):
        window = tuple(lines[start:start + 4])
        if all(line.strip() for line in window) and seen.setdefault(window, start) != start:
            pytest.fail(f"{document.name}: lines {start + 1}-{start + 4} repeat lines {seen[window] + 1}-{seen[window] + 4}")
