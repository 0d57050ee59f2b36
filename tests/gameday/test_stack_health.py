"""An experiment (the healthy_stack fixture) and `gameday run` do not start on a degraded local stack, and say why."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from gameday import cli
from base import exitcodes
from base.errors import SettingsError
from gameday.fixtures import LocalStackInfo
from stack.local import partnames, supervisor
from stack.local.instance import Instance
from stack.local.part import Health
from stack.local.supervisor import STATUS_PATH

pytest_plugins = ["pytester"]
RUNNING_AT_THE_ENVIRONMENTS_SCALE = {"pid": 12345, "environment": "local", "time_scale": 0.1}
REASON = "us-east-1 acl-1: entry skipped, not enforced: NACL entry {'CidrBlock': '999.0.0.0/8'}"


class _Status:
    """A stand-in supervisor: serves a live status whose parts report the given health."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = json.dumps({"parts": owner.parts}).encode() if self.path == STATUS_PATH else b"{}"
                self.send_response(200 if self.path == STATUS_PATH else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def status() -> Iterator[_Status]:
    served = _Status()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


@pytest.fixture
def tester(pytester: pytest.Pytester, status: _Status) -> pytest.Pytester:
    pytester.makeconftest(f'''
import pytest
from gameday.fixtures import LocalStackInfo
pytest_plugins = ["gameday.plugin"]

@pytest.fixture(scope="session")
def gameday_local_stack():
    return LocalStackInfo(4, {status.url!r}, "127.0.0.1", 10053, "/nonexistent", False)
''')
    pytester.makepyfile("def test_experiment(healthy_stack): pass\n")
    return pytester


def test_a_degraded_part_refuses_the_experiment_naming_the_part_and_the_reason(tester: pytest.Pytester,
                                                                               status: _Status) -> None:
    status.parts = {"fabric": {"running": True, "health": Health.of([REASON]).as_json()},
                    "rds": {"health": Health().as_json()}}
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*refusing to start *::test_experiment*degraded*",
                                 f"*fabric: {REASON}*"])
    assert "rds:" not in result.stdout.str() and "another exception occurred" not in result.stdout.str()


def test_a_healthy_stack_lets_it_start(tester: pytest.Pytester, status: _Status) -> None:
    status.parts = {partnames.part_name(spec): {"health": Health().as_json()} for spec in partnames.PARTS}
    tester.runpytest().assert_outcomes(passed=1)


def test_a_stack_started_without_a_part_refuses_the_experiment_naming_what_is_not_enforced(
        tester: pytest.Pytester, status: _Status) -> None:
    # Before: a stack started with `--parts rds,route53` read healthy, and every NACL fault did nothing.
    status.parts = {name: {"health": Health().as_json()} for name in ("route53", "rds")}
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*refusing to start *::test_experiment*degraded*",
                                 f"*fabric: not started: nothing enforces {partnames.ENFORCES['fabric']}*"])
    assert f"ec2: not started: nothing enforces {partnames.ENFORCES['ec2']}" in result.stdout.str()
    assert "rds:" not in result.stdout.str() and "route53:" not in result.stdout.str()


def test_gameday_run_refuses_a_stack_started_without_a_part(
        status: _Status, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status.parts = {name: {"health": Health().as_json()} for name in ("route53", "rds", "ec2")}
    monkeypatch.setattr(Instance, "aws_endpoint", property(lambda _: status.url))
    monkeypatch.setattr(supervisor, "running_pid", lambda _: 12345)
    monkeypatch.setattr(supervisor, "require_running", lambda _: RUNNING_AT_THE_ENVIRONMENTS_SCALE)
    monkeypatch.setattr(cli.subprocess, "call", lambda *a, **k: pytest.fail(f"ran {a[0]} on a stack without the fabric"))
    assert cli.main(["run", "--instance", "4"]) == exitcodes.UNREACHABLE
    assert "fabric: not started: nothing enforces EC2 subnets and network ACLs" in capsys.readouterr().err


def test_every_part_says_what_it_enforces() -> None:
    assert {partnames.part_name(spec) for spec in partnames.select_parts("all")} == set(partnames.ENFORCES)


def test_a_part_that_reports_no_health_counts_as_degraded(tester: pytest.Pytester, status: _Status) -> None:
    status.parts = {"fabric": {"running": True}}
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fabric: no health reported*"])


def test_gameday_run_refuses_a_degraded_running_stack_before_pytest_starts(
        status: _Status, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status.parts = {"fabric": {"health": Health.of([REASON]).as_json()}}
    monkeypatch.setattr(Instance, "aws_endpoint", property(lambda _: status.url))
    monkeypatch.setattr(supervisor, "running_pid", lambda _: 12345)
    monkeypatch.setattr(supervisor, "require_running", lambda _: RUNNING_AT_THE_ENVIRONMENTS_SCALE)
    monkeypatch.setattr(cli.subprocess, "call", lambda *a, **k: pytest.fail(f"ran {a[0]} on a degraded stack"))
    assert cli.main(["run", "--instance", "4"]) == exitcodes.UNREACHABLE  # the stack cannot do its part: infrastructure, not usage
    err = capsys.readouterr().err
    assert "refusing to start the game day" in err and f"fabric: {REASON}" in err


def test_stack_status_json_gives_every_part_a_health_key(local_stack: LocalStackInfo | None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    if local_stack is None:
        pytest.skip("needs the local stack (--env local)")
    assert cli.main(["stack", "status", "--json", "--instance", str(local_stack.instance)]) == 0
    parts = json.loads(capsys.readouterr().out)["parts"]
    assert set(parts) == {partnames.part_name(spec) for spec in partnames.PARTS}
    for name, part in parts.items():
        assert part["health"] == {"state": "healthy", "reasons": []}, f"{name} on a stack nothing was done to"


@pytest.mark.parametrize("names", ["", " , "])
def test_parts_naming_no_part_are_refused(names: str) -> None:
    """`--parts ""` started no part at all without a word; "none" is how to ask for that."""
    with pytest.raises(SettingsError, match=f"--parts: {names!r} names no part; allowed: all, none, or a comma list of "
                                            "fabric, route53"):
        partnames.select_parts(names)
