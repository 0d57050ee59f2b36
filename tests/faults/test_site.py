"""site.action: the team's commands on a real estate, fabric cuts on the local stack; journaled and rolled back."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from base.errors import FaultError
from environments.loader import DIRECTORY, parse
from environments.model import AwsEnvironment, LocalEnvironment
from faults import journal as journal_
from faults import leftovers, site
from faults.journal import Journal
from tests.faults.conftest import Recorder

pytestmark = pytest.mark.usefixtures("guard")


def _aws(tmp_path: Path, inject: str = "down", rollback: str = "up") -> AwsEnvironment:
    """An aws environment whose store uplink action writes the port's state to a file, as a router script would."""
    data = yaml.safe_load((DIRECTORY / "aws-example.yaml").read_text())
    local = yaml.safe_load((DIRECTORY / "local.yaml").read_text())
    data["sites"] = local["sites"]
    port = tmp_path / "router-port"

    def command(state: str) -> list[str]:
        return [sys.executable, "-c", f"import sys; open({str(port)!r}, 'w').write({state!r}); sys.exit({state!r} == 'fail')"]

    data["site_actions"] = {"store-nyc-uplink-down": {"site": "store-nyc", "command": command(inject),
                                                      "rollback_command": command(rollback)}}
    env = parse(data, "aws.yaml")
    assert isinstance(env, AwsEnvironment)
    return env


def test_a_site_action_runs_its_command_and_rolls_back_with_the_rollback_command(
        tmp_path: Path, clients: Recorder, journal: Journal) -> None:
    env = _aws(tmp_path)
    with site.SiteAction(clients, journal, environment=env, action="store-nyc-uplink-down"):
        assert (tmp_path / "router-port").read_text() == "down"
    assert (tmp_path / "router-port").read_text() == "up"
    assert clients.mutating() == []  # no AWS call: the site is the customer's own network


def test_a_killed_run_is_recovered_from_the_journal(tmp_path: Path, clients: Recorder, journal: Journal) -> None:
    env = _aws(tmp_path)
    fault = site.SiteAction(clients, journal, environment=env, action="store-nyc-uplink-down")
    fault.__enter__()  # the run dies inside the block: its __exit__ comes only after the recovery
    try:
        assert (tmp_path / "router-port").read_text() == "down"
        results = leftovers.recover(journal.target, clients, tmp_path / "journal")
        assert [r.outcome for r in results] == ["rolled back"]
        assert (tmp_path / "router-port").read_text() == "up"
        assert list(journal_.open_entries(journal.target, tmp_path / "journal")) == []
    finally:
        fault.__exit__(None, None, None)


def test_a_failing_command_fails_the_fault_with_its_output_and_an_unknown_action_is_named(
        tmp_path: Path, clients: Recorder, journal: Journal) -> None:
    env = _aws(tmp_path, inject="fail")
    with pytest.raises(FaultError, match="exited with 1"):
        with site.SiteAction(clients, journal, environment=env, action="store-nyc-uplink-down"):
            pass
    assert (tmp_path / "router-port").read_text() == "up"  # what a half-done injection did is rolled back
    with pytest.raises(FaultError, match="declared: store-nyc-uplink-down"):
        site.SiteAction(clients, journal, environment=env, action="store-la-down")


def test_on_the_local_stack_it_cuts_the_sites_links_of_the_declared_kinds() -> None:
    env = parse(yaml.safe_load((DIRECTORY / "local.yaml").read_text()), "local.yaml")
    assert isinstance(env, LocalEnvironment)
    inject, rollback = site.local_commands(env, "store-nyc-uplink-down", 4)
    tails: list[Any] = [argv[3:] for argv in inject + rollback]
    assert tails == [["stack", "site-link", "store-nyc/service-link", "down", "--instance", "4"],
                     ["stack", "site-link", "store-nyc/service-link", "up", "--instance", "4"]]
