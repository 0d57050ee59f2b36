"""Places and delays: which subnet or source holds an address, and the RTT between two places."""
from __future__ import annotations

import ipaddress

import pytest

from stack.local.fabric.errors import FabricCommandError
from stack.local.fabric.topology import OUTSIDE, Topology

from .conftest import Net


def place(topology: Topology, address: str):  # type: ignore[no-untyped-def]
    return topology.locate(ipaddress.IPv4Address(address))


def test_locate_subnet_source_and_outside(net: Net) -> None:
    topology = net.topology()
    assert place(topology, net.host("us-west-2b")).label == net.subnet_id("us-west-2b")
    assert place(topology, net.vantage("singapore")).label == "singapore"
    assert place(topology, "127.0.0.1").label == OUTSIDE


def test_rtt_follows_the_matrix_symmetric_and_zero_within_a_region(net: Net) -> None:
    topology = net.topology()
    east, west = place(topology, net.host("us-east-1a")), place(topology, net.host("us-west-2a"))
    assert topology.rtt_ms(east, west) == topology.rtt_ms(west, east) == net.environment.rtt_ms("us-east-1", "us-west-2")
    assert topology.rtt_ms(east, place(topology, net.host("us-east-1b"))) == 0.0
    assert topology.one_way_delay_s(east, west) == net.environment.rtt_ms("us-east-1", "us-west-2") / 2000.0


def test_vantage_point_rtt_is_its_own_to_the_region(net: Net) -> None:
    topology = net.topology()
    frankfurt = place(topology, net.vantage("frankfurt"))
    for az, region in (("us-east-1a", "us-east-1"), ("eu-central-1b", "eu-central-1")):
        expected = net.environment.vantage_points["frankfurt"].rtt_ms[region]
        assert topology.rtt_ms(frankfurt, place(topology, net.host(az))) == expected
        assert topology.rtt_ms(place(topology, net.host(az)), frankfurt) == expected


def test_host_adds_no_delay(net: Net) -> None:
    topology = net.topology()
    assert topology.rtt_ms(place(topology, "127.0.0.1"), place(topology, net.host("ap-southeast-1a"))) == 0.0


def test_json_round_trip(net: Net) -> None:
    topology = net.topology()
    assert Topology.from_json(topology.as_json()) == topology


def test_missing_rtt_between_subnet_regions_is_rejected() -> None:
    data = {"subnets": [{"subnet_id": "a", "cidr": "127.16.1.0/24", "region": "us-east-1"},
                        {"subnet_id": "b", "cidr": "127.17.1.0/24", "region": "us-west-2"}]}
    with pytest.raises(FabricCommandError, match="no entry for us-east-1 <-> us-west-2"):
        Topology.from_json(data)


def test_bad_cidr_names_the_field() -> None:
    with pytest.raises(FabricCommandError, match=r"subnets\[0\].cidr: '127.16.1.0/33'"):
        Topology.from_json({"subnets": [{"subnet_id": "a", "cidr": "127.16.1.0/33", "region": "us-east-1"}]})
