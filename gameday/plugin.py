"""The pytest plugin: options, markers and the default fixtures (made by gameday.fixtures).

Installed with the package as a ``pytest11`` entry point named after this module, so every pytest run
in the environment loads it, together with the evidence plugin and the experiment harness it names in
``pytest_plugins``; a conftest.py or ``-p gameday.plugin`` that names it as well is then a no-op.
Options, ini keys and fixtures are namespaced ``gameday_``/``--gameday-``; the short spellings the
README documents are aliases.
"""
from __future__ import annotations

import os
from typing import Generator

import pytest

from environments import loader
from gameday import fixtures, settings as settings_
from faults import guard as guard_
from base import runid
from base.errors import GamedayError
from faults.stopconditions import Aborted

# Registered with this plugin: the evidence pack, the experiment harness (the scenario fixture), and the
# longest-first order of experiments under pytest-xdist.
pytest_plugins = ["gameday.evidence_plugin", "gameday.harness", "gameday.ordering"]

MARKERS = {
    "failover": "a failover scenario (CI runs `pytest -m failover` on every merge)",
    "gameday": "part of the full game day (what `gameday run` and `make gameday` run by default)",
    "az_outage": "an Availability Zone outage scenario",
    "dns": "exercises Route 53 routing",
    "dynamodb": "exercises DynamoDB global tables (the catalog)",
    "edge": "the edge tier: CloudFront, Global Accelerator, WAF and Shield",
    "hybrid": "exercises the sites outside AWS (Direct Connect, VPN, Outposts)",
    "latency": "measures latency",
    "rds": "exercises RDS",
    "region": "a Region-level scenario",
    "requires_aws": "needs a real AWS account; skipped with the reason when there is none",
    "slow": "takes more than a few seconds",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "gameday: chaos and DR experiments")
    for setting in settings_.SETTINGS:
        help_text = f"{setting.help} [env {setting.variable}, ini {setting.ini}, default {setting.default or 'see text'}]"
        names = (setting.option, *setting.aliases)
        if setting.is_bool:
            group.addoption(*names, action="store_true", dest=f"gameday_{setting.name}", default=None, help=help_text)
            parser.addini(setting.ini, help=setting.help, type="bool", default=None)
        else:
            group.addoption(*names, dest=f"gameday_{setting.name}", default=None, help=help_text)
            parser.addini(setting.ini, help=setting.help, type="string", default=None)


def pytest_configure(config: pytest.Config) -> None:
    declared = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for name, description in MARKERS.items():
        if name not in declared:  # a project's pytest.ini (gameday init writes one) may list them already
            config.addinivalue_line("markers", f"{name}: {description}")
    # Resolve now, so a bad --env or GAMEDAY_INSTANCE is a usage error before any test runs.
    resolved = fixtures.resolve_settings(config)
    try:
        loader.resolve(resolved.env)
        # The safety guard every fault in this session uses unless given another (faults.guard).
        guard = guard_.Guard(guard_.Policy.for_environment(loader.load(resolved.env), dry_run=resolved.dry_run))
    except GamedayError as error:
        raise pytest.UsageError(str(error)) from None
    os.environ.setdefault("GAMEDAY_RUN_ID", guard.policy.run_id)  # xdist workers inherit it: one run id per run
    config.stash[SETTINGS_KEY] = resolved
    config.stash[GUARD_KEY] = guard
    guard_.install(guard)
    config.pluginmanager.register(_PlanCollector(resolved.dry_run), "gameday-plans")


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(GUARD_KEY, None)
    if guard is not None:
        guard_.uninstall(guard)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                                            pytest.TestReport]:
    """Attach each dry-run plan to its test's report (xdist carries it to the controller); stop an aborted run."""
    report = yield
    guard = item.config.stash.get(GUARD_KEY, None)
    if guard is None:
        return report
    for planned in guard.plan.faults:
        if planned.where == item.nodeid and ("gameday_plan", planned.text()) not in report.user_properties:
            report.user_properties.append(("gameday_plan", planned.text()))
    if call.excinfo is not None and call.excinfo.errisinstance(Aborted):
        item.session.shouldstop = f"gameday: {call.excinfo.value}"
    # pytest turns DryRun (a unittest.SkipTest) into a skip located in its unittest module; point at the experiment.
    if report.skipped and isinstance(report.longrepr, tuple) and str(report.longrepr[2]).startswith(DRY_RUN_SKIP):
        path, line = item.reportinfo()[:2]
        report.longrepr = (str(path), (line or 0) + 1, report.longrepr[2])
    return report


class _PlanCollector:
    """Collects the plans from every test report (local or from xdist workers) and prints them at the end."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.plans: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, text in report.user_properties:
            if name == "gameday_plan" and str(text) not in self.plans:
                self.plans.append(str(text))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.dry_run:
            return
        terminalreporter.section("gameday dry run: the plan (no mutating call was made)")
        terminalreporter.write_line(f"run {runid.current()}: {len(self.plans)} fault(s) planned")
        for number, text in enumerate(self.plans, 1):
            terminalreporter.write_line(f"{number}. {text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("requires_aws") and config.stash[SETTINGS_KEY].env == "local":
            item.add_marker(pytest.mark.skip(reason="requires_aws: needs a real account; run with --env <aws environment>"))


SETTINGS_KEY = pytest.StashKey[settings_.Resolved]()
GUARD_KEY = pytest.StashKey[guard_.Guard]()
DRY_RUN_SKIP = "Skipped: dry run:"  # how pytest reports a faults.plan.DryRun


@pytest.fixture(scope="session")
def gameday_guard(pytestconfig: pytest.Config) -> guard_.Guard:
    """The safety guard in force for this session (account and Region allowlist, target tag, stop conditions, dry run)."""
    return pytestconfig.stash[GUARD_KEY]


@pytest.fixture(scope="session")
def gameday_settings(pytestconfig: pytest.Config) -> settings_.Resolved:
    """The settings in force, after the precedence rule (option > environment variable > ini > default)."""
    return pytestconfig.stash[SETTINGS_KEY]


gameday_environment = fixtures.environment_fixture()
gameday_local_stack = fixtures.local_stack_fixture()
gameday_healthy_stack = fixtures.healthy_stack_fixture()
gameday_aws_session = fixtures.aws_session_fixture()
gameday_aws_client = fixtures.aws_client_fixture()
gameday_stack = fixtures.stack_fixture()
gameday_timeline = fixtures.timeline_fixture()

# The short names experiments and the README use.
environment = fixtures.alias("gameday_environment", "session")
local_stack = fixtures.alias("gameday_local_stack", "session")
healthy_stack = fixtures.alias("gameday_healthy_stack", "function")
aws_session = fixtures.alias("gameday_aws_session", "session")
aws_client = fixtures.alias("gameday_aws_client", "session")
stack = fixtures.alias("gameday_stack", "session")
timeline = fixtures.alias("gameday_timeline", "function")
