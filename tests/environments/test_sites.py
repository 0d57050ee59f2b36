"""The environment's sites: ranges, RTTs, links and their BGP timings, and the errors for bad ones."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from base.errors import EnvironmentFileError
from environments.loader import DIRECTORY, parse
from environments.model import LocalEnvironment
from stack.local.instance import Instance


def local_data() -> dict[str, Any]:
    data = yaml.safe_load((DIRECTORY / "local.yaml").read_text())
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def test_the_local_environment_has_a_warehouse_with_direct_connect_and_a_vpn_and_two_stores() -> None:
    env = parse(local_data(), "local.yaml")
    assert isinstance(env, LocalEnvironment)
    assert sorted(site.kind for site in env.sites.values()) == ["store", "store", "warehouse"]
    dx, vpn = env.sites["warehouse"].links["dx"], env.sites["warehouse"].links["vpn"]
    assert dx.route_preference > vpn.route_preference
    assert dx.detection_s() == pytest.approx(0.9)  # BFD 300 ms x 3
    assert dx.detection_s(bfd=False) == 90.0  # AWS's default BGP hold time
    shifted = Instance(3, env).resolved().sites["warehouse"].cidr
    assert shifted == "127.223.1.0/24"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["sites"]["warehouse"].update(cidr="127.17.5.0/24"),
     "sites.warehouse.cidr '127.17.5.0/24' overlaps regions.us-west-2.vpc_cidr '127.17.0.0/16'"),
    (lambda d: d["sites"]["warehouse"].update(cidr="10.0.0.0/24"), "outside 127.0.0.0/8"),
    (lambda d: d["sites"]["warehouse"]["links"]["dx"].update(region="eu-west-1"), "links.dx.region 'eu-west-1' is not in regions"),
    (lambda d: d["sites"]["warehouse"]["links"]["vpn"].update(bfd=True), "AWS runs BFD on Direct Connect only"),
    (lambda d: d["sites"]["warehouse"]["links"]["dx"].update(bgp_hold_time_s=10), "at least one keepalive"),
    (lambda d: d["sites"]["warehouse"]["links"]["dx"].update(type="mpls"), "sites.warehouse.links.dx.type"),
])
def test_a_bad_site_is_refused_in_one_line_naming_the_field(change: Any, message: str) -> None:
    data = local_data()
    change(data)
    with pytest.raises(EnvironmentFileError) as caught:
        parse(data, "local.yaml")
    lines = [line for line in str(caught.value).splitlines() if message in line]
    assert lines and lines[0].startswith("local.yaml: "), str(caught.value)
