"""Routine failures of the `gameday` command: one clear line on stderr, no traceback, a documented exit code."""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from environments import loader
from base import exitcodes
from base.errors import SettingsError
from gameday import cli
from gameday.fixtures import LocalStackInfo
from stack.local import instance, partnames

ROOT = Path(__file__).resolve().parents[2]
LOCAL_YAML = Path(loader.__file__).with_name("local.yaml")


def gameday(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GAMEDAY_"))}
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**environ, **(env or {})}, timeout=timeout)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _free_port() -> int:
    """A port nothing listens on (bound and released), so the endpoint refuses the connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack_down(tmp_path: Path) -> str:
    """The local environment with its AWS endpoint on a port where nothing answers: the stack is down."""
    path = tmp_path / "down.yaml"
    path.write_text(LOCAL_YAML.read_text().replace("aws_endpoint_port: 4566", f"aws_endpoint_port: {_free_port()}"))
    return str(path)


@pytest.mark.parametrize("command", ["scan", "recover"])
def test_scan_and_recover_with_the_stack_down_are_unreachable_not_leftovers(command: str, stack_down: str,
                                                                            tmp_path: Path) -> None:
    result = gameday(command, "--env", stack_down, env={"GAMEDAY_JOURNAL_DIR": str(tmp_path)})
    assert result.returncode == exitcodes.UNREACHABLE, result.stderr
    assert "cannot reach http://127.0." in one_line(result) and "gameday stack up" in result.stderr


def test_scan_without_credentials_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    environ = {"AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty),
               "AWS_EC2_METADATA_DISABLED": "true"}  # no instance-metadata lookup: traffic stays on this machine
    without = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-m", "gameday.cli", "scan", "--env", "aws-example"], capture_output=True,
                            text=True, cwd=ROOT, env={**without, **environ}, timeout=120)
    assert result.returncode == exitcodes.USAGE, result.stderr
    assert "Unable to locate credentials" in one_line(result)


def test_stack_status_is_local_and_ignores_a_missing_aws_profile(local_stack: LocalStackInfo | None) -> None:
    if local_stack is None:
        pytest.skip("needs the local stack")
    result = gameday("stack", "status", "--instance", str(local_stack.instance), env={"AWS_PROFILE": "nosuch"})
    assert result.returncode == exitcodes.OK, result.stderr
    assert local_stack.aws_endpoint in result.stdout and "Traceback" not in result.stderr


def test_verify_of_a_missing_directory_is_a_usage_error_not_tampering(tmp_path: Path) -> None:
    result = gameday("verify", str(tmp_path / "no-such-pack"))
    assert result.returncode == exitcodes.USAGE
    assert "is not a directory" in result.stderr and "TAMPERED" not in result.stdout + result.stderr


def test_run_with_a_bad_environment_file_renders_no_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(LOCAL_YAML.read_text().replace("time_scale: 0.1", "time_scale: 7"))
    assert "time_scale: 7" in bad.read_text(), "environments/local.yaml changed: update the replacement"
    result = gameday("run", "--env", str(bad), "--instance", "0")
    assert result.returncode == exitcodes.USAGE, result.stdout + result.stderr
    assert "time_scale" in one_line(result)
    assert "allure" not in (result.stdout + result.stderr).lower()  # pytest never ran, no report was rendered


def test_bad_instance_argument_is_a_usage_error() -> None:
    result = gameday("stack", "status", "--instance", "12")
    assert result.returncode == exitcodes.USAGE
    assert "--instance: invalid _instance_number value" not in result.stderr
    assert "'12' is not allowed; use an integer from 0 to 9" in result.stderr


def test_the_local_stack_needs_no_aws_profile(local_stack: LocalStackInfo | None, tmp_path: Path) -> None:
    """AWS_PROFILE names a profile that does not exist: commands on the local stack do not read profiles."""
    if local_stack is None:
        pytest.skip("needs the local stack")
    result = gameday("scan", "--instance", str(local_stack.instance),
                     env={"AWS_PROFILE": "nosuch", "GAMEDAY_JOURNAL_DIR": str(tmp_path)})
    assert result.returncode in (exitcodes.OK, exitcodes.FAILED), result.stderr  # nothing found, or leftovers
    assert "Traceback" not in result.stderr and "nosuch" not in result.stderr


def test_site_link_without_a_stack_is_unreachable_not_a_usage_error(tmp_path: Path) -> None:
    # Instance 9's state directory under an empty XDG_RUNTIME_DIR: no fabric's control socket there.
    result = gameday("stack", "site-link", "warehouse/dx", "down", "--instance", "9",
                     env={"XDG_RUNTIME_DIR": str(tmp_path)})
    assert result.returncode == exitcodes.UNREACHABLE, result.stderr
    assert "no local stack's fabric answers for instance 9" in one_line(result) and "gameday stack up" in result.stderr


def test_stack_up_help_and_the_cli_guide_name_every_part() -> None:
    names = [partnames.part_name(spec) for spec in partnames.PARTS]
    assert ", ".join(names) in " ".join(gameday("stack", "up", "--help").stdout.split())
    assert f"--parts all|none|{','.join(names)}]" in (ROOT / "docs" / "cli.md").read_text()


def test_every_unknown_part_is_named(local_stack: LocalStackInfo | None) -> None:
    if local_stack is None:
        pytest.skip("needs the local stack")
    # The session's own instance: were the parts accepted, `up` would refuse (already running), not start one.
    result = gameday("stack", "up", "--detach", "--parts", "fabric,dns,s3", "--instance", str(local_stack.instance))
    assert result.returncode == exitcodes.USAGE
    line = one_line(result)
    assert "'dns', 's3' are not parts" in line and "fabric, route53, rds, ec2, dynamodb" in line


def test_a_reader_that_leaves_early_does_not_turn_tampered_into_success(tmp_path: Path) -> None:
    """`gameday verify PACK | head -1` under pipefail: the pipe is closed before the verdict is printed."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone already: every write to the pipe fails with EPIPE
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GAMEDAY_"))}
    try:
        result = subprocess.run([sys.executable, "-m", "gameday.cli", "verify", str(tmp_path)], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT, env=environ, timeout=120)
    finally:
        os.close(write_end)
    assert result.returncode == exitcodes.TAMPERED, result.stderr  # an empty directory: MANIFEST.sha256 is missing
    assert result.stderr == ""


@pytest.mark.parametrize(("instance", "hint"), [("5", "`gameday stack down --instance 5` stops it"),
                                                ("0", "`gameday stack down` stops it")])
def test_stack_up_detached_names_the_instance_its_down_hint_stops(instance: str, hint: str,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from gameday import cli
    from stack.local import supervisor

    monkeypatch.delenv("GAMEDAY_ENV", raising=False)
    monkeypatch.setattr(supervisor, "start_detached",
                        lambda env, inst, parts: {"aws_endpoint": inst.aws_endpoint, "pid": 4242})
    assert cli.main(["stack", "up", "--detach", "--instance", instance]) == exitcodes.OK
    assert hint in capsys.readouterr().out


def test_no_stack_running_names_the_instance_in_its_hint(tmp_path: Path) -> None:
    result = gameday("stack", "status", "--instance", "5", env={"GAMEDAY_RUNTIME_DIR": str(tmp_path)})
    assert result.returncode == exitcodes.UNREACHABLE
    assert "start one with `gameday stack up --detach --instance 5`" in one_line(result)


@pytest.mark.parametrize("value", ["²", "٣", "12", "-1"])
def test_an_instance_is_an_ascii_number_from_0_to_9(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """'²' passes str.isdigit but not int(): it was a traceback from GAMEDAY_INSTANCE and argparse's
    'invalid _instance_number value' from --instance."""
    with pytest.raises(argparse.ArgumentTypeError, match=f"{value!r} is not allowed; use an integer from 0 to 9"):
        cli._instance_number(value)
    monkeypatch.setenv("GAMEDAY_INSTANCE", value)
    with pytest.raises(SettingsError, match=f"GAMEDAY_INSTANCE: {value!r} is not allowed"):
        instance.instance_from_environ()
