"""The core install (the AWS path) works without the extras: no moto, PostgreSQL driver or matplotlib.

A subprocess hides the extras' packages (``sys.modules[name] = None`` makes their import fail as if they
were not installed), then imports every module a core install ships outside the local stack's parts, and
runs each command's --help. The parts that need an extra say which one when asked for.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from base.errors import BuildError, StackError
from stack import orders
from stack.local import installed

ROOT = Path(__file__).resolve().parents[1]
# What the `local`, `postgres`, `charts` and `test` extras bring (pyproject.toml), by import name.
EXTRAS_ONLY = ("moto", "pg8000", "matplotlib", "flask", "flask_cors", "werkzeug", "uvicorn", "starlette", "uvloop",
               "httptools", "h11", "awscli", "locust", "gevent")
PACKAGES = ("base", "environments", "stack", "faults", "probes", "experiments", "reports", "gameday")
# Only the local stack's parts and endpoint (the `local` extra) and the charts (`charts`) need an extra.
NEEDS_AN_EXTRA = ("stack.local.controlplane", "stack.local.fabric", "stack.local.route53", "stack.local.rds",
                  "stack.local.ec2", "stack.local.cloudfront", "stack.local.endpoint", "reports.charts",
                  # Locust's side of the load probe (the `load` extra): imported only in its child process
                  "probes.load.users", "probes.load.child", "probes.load.locustfile")
COMMANDS: tuple[list[str], ...] = ([], ["init"], ["stack"], ["stack", "up"], ["stack", "status"], ["stack", "down"], ["recover"], ["scan"],
            ["verify"], ["keygen"], ["report"], ["run"])

SCRIPT = textwrap.dedent("""
    import contextlib, importlib, io, pkgutil, sys
    for name in {hidden!r}:
        sys.modules[name] = None
    failed = []
    for root in {packages!r}:
        package = importlib.import_module(root)
        for module in pkgutil.walk_packages(package.__path__, root + "."):
            name = module.name
            leaf = name.rpartition(".")[2]
            if name.startswith({needs_an_extra!r}) or leaf.startswith("test_") or leaf == "conftest":
                continue
            try:
                importlib.import_module(name)
            except Exception as error:
                failed.append(f"{{name}}: {{type(error).__name__}}: {{error}}")
    from gameday import cli
    for command in {commands!r}:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                cli.main([*command, "--help"])
            except SystemExit as exit:
                if exit.code not in (0, None):
                    failed.append(f"gameday {{' '.join(command)}} --help exited {{exit.code}}")
    print("\\n".join(failed))
""")


def test_every_core_module_imports_and_every_command_parses_without_the_extras() -> None:
    script = SCRIPT.format(hidden=EXTRAS_ONLY, packages=PACKAGES, needs_an_extra=NEEDS_AN_EXTRA, commands=COMMANDS)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"needs an extra on the core path:\n{done.stdout}"


def test_reading_orders_without_the_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pg8000", None)
    copy = orders.Copy("orders", "us-east-1", "orders.example", 5432, "postgres", "secret", "us-east-1")
    with pytest.raises(BuildError, match=r"PostgreSQL driver pg8000, which is not installed: "
                                         r"pip install 'gameday\[postgres\]'"):
        orders.connect(lambda service, region: pytest.fail("no AWS call before the driver is known"), copy, None)


def test_the_local_stack_without_its_extra_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)  # importlib.util.find_spec answers None, as when absent
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(StackError, match=r"needs the Python package\(s\) moto, uvloop, which are not installed: "
                                         r"pip install 'gameday\[local\]'") as raised:
        installed.require()
    assert raised.value.exit_code == 2
    monkeypatch.delitem(sys.modules, "moto")
    monkeypatch.delitem(sys.modules, "uvloop")
    installed.require()  # this venv has the extra


def test_a_missing_opentelemetry_counts_as_missing_not_as_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # the namespace package is absent
    assert "opentelemetry-sdk" in installed.missing() and "opentelemetry-proto" in installed.missing()
