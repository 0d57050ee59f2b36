"""A zygote forking any program: what its children get, what they report, and a clear refusal of a bad --main."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from stack.local.process import REPO_ROOT
from stack.local.zygote.client import ForkError, Zygote

PROGRAMS = "tests.stack.local.zygote.programs"


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    made = Zygote(tmp_path / "z.sock", tmp_path / "z.log", REPO_ROOT, {"PATH": "/usr/bin:/bin"}, f"{PROGRAMS}:report",
                  preload=["json"], name="test zygote", ready_timeout_s=20)
    try:
        yield made
    finally:
        made.stop()


def test_a_child_runs_main_with_its_args_env_and_cwd_and_exits_with_what_it_returns(
        zygote: Zygote, tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = zygote.spawn(["7", "x"], {"ZYGOTE_TEST": "yes"}, tmp_path, log)
    assert child.wait(20) == 7
    assert log.read_text().strip() == (f"args=['7', 'x'] argv0={PROGRAMS} cwd={tmp_path} marker=yes "
                                       f"parent={zygote.pid}")


def test_a_program_that_exits_with_a_message_has_it_in_its_log_and_exit_code_1(tmp_path: Path) -> None:
    zygote = Zygote(tmp_path / "r.sock", tmp_path / "r.log", REPO_ROOT, {}, f"{PROGRAMS}:refuse", name="test zygote")
    try:
        child = zygote.spawn(["--nope"], {}, tmp_path, tmp_path / "child.log")
        assert child.wait(20) == 1
        assert "programs.refuse: bad arguments ['--nope']" in (tmp_path / "child.log").read_text()
    finally:
        zygote.stop()


@pytest.mark.parametrize(("main", "says"), [
    ("tests.stack.local.zygote.programs", "expected MODULE:FUNCTION"),
    (f"{PROGRAMS}:nosuch", f"{PROGRAMS} has no function 'nosuch'"),
])
def test_a_bad_main_is_refused_at_start_naming_it(main: str, says: str, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "stack.local.zygote", "--socket", str(tmp_path / "z.sock"),
                          "--main", main], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert run.returncode == 2
    assert f"--main {main!r}" in run.stderr and says in run.stderr, run.stderr


def test_a_zygote_that_cannot_start_fails_the_spawn_with_its_log(tmp_path: Path) -> None:
    zygote = Zygote(tmp_path / "z.sock", tmp_path / "z.log", REPO_ROOT, {}, f"{PROGRAMS}:nosuch", name="test zygote")
    with pytest.raises(ForkError, match=r"the test zygote exited with code 2 while starting(.|\n)*has no function"):
        zygote.spawn([], {}, tmp_path, tmp_path / "child.log")
    assert not zygote.alive()


def test_a_zygote_of_several_programs_forks_the_one_each_request_names(tmp_path: Path) -> None:
    zygote = Zygote(tmp_path / "s.sock", tmp_path / "s.log", REPO_ROOT, {}, name="test zygote")
    try:
        with pytest.raises(ValueError, match="the test zygote has no main of its own"):
            zygote.spawn([], {}, tmp_path, tmp_path / "none.log")
        with pytest.raises(ForkError, match=rf"refused to fork a child: main '{PROGRAMS}:nosuch': .*no function 'nosuch'"):
            zygote.spawn([], {}, tmp_path, tmp_path / "bad.log", main=f"{PROGRAMS}:nosuch")
        first = zygote.spawn(["3"], {}, tmp_path, tmp_path / "report.log", main=f"{PROGRAMS}:report")
        second = zygote.spawn(["x"], {}, tmp_path, tmp_path / "refuse.log", main=f"{PROGRAMS}:refuse")
        assert (first.wait(20), second.wait(20)) == (3, 1)
        assert "args=['3']" in (tmp_path / "report.log").read_text()
        assert "bad arguments ['x']" in (tmp_path / "refuse.log").read_text()
    finally:
        zygote.stop()
