"""Attaching to a running local stack: refused, with both scales and the fix, when its time_scale differs."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from base import exitcodes
from base.errors import StackError
from environments import loader
from environments.model import LocalEnvironment
from gameday import cli
from gameday.fixtures import LocalStackInfo
from stack.local import attach, supervisor
from stack.local.instance import Instance

pytest_plugins = ["pytester"]


def local(time_scale: float = 0.1) -> LocalEnvironment:
    environment = loader.load("local")
    assert isinstance(environment, LocalEnvironment)
    return environment.model_copy(update={"time_scale": time_scale})


def state(**values: Any) -> dict[str, Any]:
    return {"pid": 4242, "environment": "local", "ready": True, **values}


def test_a_stack_at_another_scale_is_refused_naming_both_and_the_fix() -> None:
    instance = Instance(4, local())
    with pytest.raises(StackError) as refused:
        attach.refuse_other_scale(state(time_scale=0.1), instance, local(0.5))
    message = str(refused.value)
    assert "runs at time_scale 0.1" in message and "has time_scale 0.5" in message
    assert "GAMEDAY_INSTANCE=4 gameday stack down" in message and "--env local" in message


def test_a_stack_at_the_same_scale_is_accepted() -> None:
    attach.refuse_other_scale(state(time_scale=0.5), Instance(4, local()), local(0.5))


@pytest.mark.parametrize("reported", [None, "fast", 0])
def test_a_stack_that_does_not_report_a_valid_scale_is_refused(reported: Any) -> None:
    values = {} if reported is None else {"time_scale": reported}
    with pytest.raises(StackError, match="cannot be checked against the environment's; restart it: "
                                         "`gameday stack down --instance 4`, then `gameday stack up --detach --instance 4`"):
        attach.refuse_other_scale(state(**values), Instance(4, local()), local())


def test_the_running_stack_reports_its_scale_and_attaching_checks_it(local_stack: LocalStackInfo | None) -> None:
    if local_stack is None:
        pytest.skip("needs the local stack (--env local)")
    instance = Instance(local_stack.instance, local())
    running = supervisor.read_state(instance)
    assert running is not None and running["time_scale"] == local().time_scale  # written by the supervisor
    assert attach.require_same_scale(instance, local())["pid"] == running["pid"]
    with pytest.raises(StackError, match=r"runs at time_scale 0\.1, but environment 'local' has time_scale 0\.5"):
        attach.require_same_scale(instance, local(0.5))


def test_a_test_session_at_another_scale_does_not_attach(local_stack: LocalStackInfo | None, pytester: pytest.Pytester,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session fixture, as a user's run reaches it: every test errors with the refusal, none runs."""
    if local_stack is None:
        pytest.skip("needs the local stack (--env local)")
    faster = tmp_path / "faster.yaml"
    faster.write_text((loader.DIRECTORY / "local.yaml").read_text().replace("time_scale: 0.1", "time_scale: 0.5"))
    assert "time_scale: 0.5" in faster.read_text(), "environments/local.yaml changed: update the replacement"
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    pytester.makepyfile("def test_experiment(local_stack): pass\n")
    monkeypatch.setenv("GAMEDAY_ENV", str(faster))
    monkeypatch.setenv("GAMEDAY_INSTANCE", str(local_stack.instance))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*runs at time_scale 0.1, but environment 'local' has time_scale 0.5*"])
    assert supervisor.running_pid(Instance(local_stack.instance, local())) is not None  # left running, untouched


def test_gameday_run_refuses_a_running_stack_at_another_scale_before_pytest_starts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(supervisor, "running_pid", lambda _: 4242)
    monkeypatch.setattr(supervisor, "require_running", lambda _: state(time_scale=0.02))
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail(f"ran {a[0]} on a stack at another scale"))
    assert cli.main(["run", "--instance", "4"]) == exitcodes.USAGE
    assert "runs at time_scale 0.02, but environment 'local' has time_scale 0.1" in capsys.readouterr().err
