"""The pytest plugin: options, markers and the default fixtures (made by gameday.fixtures)."""
from __future__ import annotations

import pytest

from environments import loader
from gameday import fixtures, settings as settings_
from gameday.errors import GamedayError

MARKERS = {
    "failover": "a failover scenario (CI runs `pytest -m failover` on every merge)",
    "gameday": "part of the full game day (`make gameday`)",
    "az_outage": "an Availability Zone outage scenario",
    "dns": "exercises Route 53 routing",
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
        if setting.default in ("true", "false"):
            group.addoption(setting.option, action="store_true", dest=f"gameday_{setting.name}", default=None,
                            help=help_text)
        else:
            group.addoption(setting.option, dest=f"gameday_{setting.name}", default=None, help=help_text)
        parser.addini(setting.ini, help=setting.help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    # Resolve now, so a bad --env or GAMEDAY_INSTANCE is a usage error before any test runs.
    resolved = fixtures.resolve_settings(config)
    try:
        loader.resolve(resolved.env)
    except GamedayError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SETTINGS_KEY] = resolved


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("requires_aws") and config.stash[SETTINGS_KEY].env == "local":
            item.add_marker(pytest.mark.skip(reason="requires_aws: needs a real account; run with --env <aws environment>"))


SETTINGS_KEY = pytest.StashKey[settings_.Resolved]()


@pytest.fixture(scope="session")
def gameday_settings(pytestconfig: pytest.Config) -> settings_.Resolved:
    """The settings in force, after the precedence rule (option > environment variable > ini > default)."""
    return pytestconfig.stash[SETTINGS_KEY]


environment = fixtures.environment_fixture()
local_stack = fixtures.local_stack_fixture()
aws_session = fixtures.aws_session_fixture()
aws_client = fixtures.aws_client_fixture()
stack = fixtures.stack_fixture()
timeline = fixtures.timeline_fixture()
