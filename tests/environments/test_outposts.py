"""Outposts and site actions in the environment, and the errors for bad ones."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from base.errors import EnvironmentFileError
from environments.loader import DIRECTORY, parse
from environments.model import LocalEnvironment


def local_data() -> dict[str, Any]:
    data = yaml.safe_load((DIRECTORY / "local.yaml").read_text())
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def test_the_local_environment_has_an_outpost_in_each_store_and_a_site_action() -> None:
    env = parse(local_data(), "local.yaml")
    assert isinstance(env, LocalEnvironment)
    assert {o.site for o in env.outposts.values()} == {n for n, s in env.sites.items() if s.kind == "store"}
    nyc = env.outposts["store-nyc"]
    assert (nyc.region, nyc.arn(env.account_id)) == (
        "us-east-1", "arn:aws:outposts:us-east-1:123456789012:outpost/op-0a1b2c3d4e5f60001")
    assert env.site_actions["store-nyc-uplink-down"].links == ["service_link"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["outposts"]["store-nyc"].update(site="store-la"), "outposts.store-nyc.site 'store-la' is not in sites"),
    (lambda d: d["outposts"]["store-nyc"].update(availability_zone="us-east-1c"),
     "outposts.store-nyc.availability_zone 'us-east-1c' is not one of regions.us-east-1.availability_zones"),
    (lambda d: d["outposts"]["store-nyc"].update(site="warehouse"), "site warehouse has no service_link to us-east-1"),
    (lambda d: d["outposts"]["store-nyc"].update(outpost_id="op-123"), "outposts.store-nyc.outpost_id"),
    (lambda d: d["outposts"]["store-philly"].update(outpost_id="op-0a1b2c3d4e5f60001"), "each Outpost has its own id"),
    (lambda d: d["site_actions"]["store-nyc-uplink-down"].update(links=["direct_connect"]),
     "site_actions.store-nyc-uplink-down.links names 'direct_connect', but site store-nyc has no link of that type"),
    (lambda d: d["site_actions"]["store-nyc-uplink-down"].update(command=["/bin/true"]),
     "site_actions.store-nyc-uplink-down.rollback_command is empty"),
])
def test_a_bad_outpost_or_site_action_is_refused_naming_the_field(change: Any, message: str) -> None:
    data = local_data()
    change(data)
    with pytest.raises(EnvironmentFileError) as caught:
        parse(data, "local.yaml")
    assert any(message in line and line.startswith("local.yaml: ") for line in str(caught.value).splitlines()), str(caught.value)


def test_an_aws_environment_needs_a_command_for_each_site_action() -> None:
    data = yaml.safe_load((DIRECTORY / "aws-example.yaml").read_text())
    local = local_data()
    data["sites"] = local["sites"]
    data["site_actions"] = local["site_actions"]
    with pytest.raises(EnvironmentFileError, match="site_actions.store-nyc-uplink-down.command is empty"):
        parse(data, "aws.yaml")
    data["site_actions"]["store-nyc-uplink-down"].update(command=["./router-port", "down"], rollback_command=["./router-port", "up"])
    parse(data, "aws.yaml")
