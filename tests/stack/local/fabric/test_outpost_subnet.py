"""A subnet on an Outpost stands at its store: local to the store, over the service link to the Region."""
from __future__ import annotations

import ipaddress
from types import SimpleNamespace
from typing import Any

from stack.local.fabric.fabric import Fabric
from stack.local.fabric.sites import SiteRouter
from stack.local.fabric.topology import ExternalSource, Subnet, Topology

STORE = ExternalSource("store-nyc", ipaddress.IPv4Network("127.224.2.0/24"), {"us-east-1": 8.0}, site=True)
OTHER_STORE = ExternalSource("store-philly", ipaddress.IPv4Network("127.224.3.0/24"), {"us-east-1": 6.0}, site=True)
REGION = Subnet("subnet-region", ipaddress.IPv4Network("127.140.0.0/20"), "us-east-1", "us-east-1a")
OUTPOST = Subnet("subnet-outpost", ipaddress.IPv4Network("127.140.200.0/24"), "us-east-1", "us-east-1a", site="store-nyc")
TOPOLOGY = Topology((REGION, OUTPOST), (STORE, OTHER_STORE))


def place(address: str) -> Any:
    return TOPOLOGY.locate(ipaddress.IPv4Address(address))


def test_an_outpost_subnet_is_at_its_store_for_delay() -> None:
    instance, till, cloud = place("127.140.200.5"), place("127.224.2.200"), place("127.140.0.250")
    assert TOPOLOGY.site_of(instance) == "store-nyc"
    assert TOPOLOGY.rtt_ms(instance, till) == 0.0  # the store's LAN
    assert TOPOLOGY.rtt_ms(instance, cloud) == 8.0  # the store's RTT to its parent Region
    assert Topology.from_json(TOPOLOGY.as_json()).subnets[1].site == "store-nyc"


def test_an_outpost_subnet_reaches_its_region_only_over_the_service_link() -> None:
    router = SiteRouter(lambda _delay, _call: SimpleNamespace(cancel=lambda: None), lambda: None)
    router.set_links([{"link_id": "store-nyc/service-link", "site": "store-nyc", "region": "us-east-1",
                       "kind": "service_link", "preference": 150}])
    fabric: Any = SimpleNamespace(topology=TOPOLOGY, sites=router)
    instance, till, cloud = place("127.140.200.5"), place("127.224.2.200"), place("127.140.0.250")
    assert Fabric._path(fabric, instance, cloud).blocked == ""
    router.set_state("store-nyc/service-link", False)
    assert "store-nyc/service-link" in Fabric._path(fabric, instance, cloud).blocked
    assert Fabric._path(fabric, till, instance).blocked == ""  # local traffic keeps flowing
    assert "no link between sites" in Fabric._path(fabric, instance, place("127.224.3.9")).blocked
