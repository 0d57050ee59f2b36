"""Where an address is (which subnet, Region or external source) and the delay between two places.

Pure data and lookups, no I/O. A *place* is a VPC subnet (inside a Region), an external source
outside every VPC (a vantage point or a Route 53 health checker, with its RTT to each Region), or
the host itself (``outside``: any other address, such as an unregistered process on 127.0.0.1).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Mapping

from stack.local.fabric.acl import PacketEnd
from stack.local.fabric.errors import FabricCommandError

OUTSIDE = "outside"


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    network: ipaddress.IPv4Network
    region: str
    az: str = ""
    # A subnet on an Outpost stands at this site (a store): it reaches its Region over the site's links.
    site: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"subnet_id": self.subnet_id, "cidr": str(self.network), "region": self.region, "az": self.az,
                "site": self.site}


@dataclass(frozen=True)
class ExternalSource:
    """Clients outside every VPC: a vantage point or a health checker, with its RTT to each Region."""

    name: str
    network: ipaddress.IPv4Network
    rtt_ms: Mapping[str, float] = field(default_factory=dict)
    # A site outside AWS (a warehouse, a store): it reaches a Region's subnets only over its links (sites.py).
    site: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "cidr": str(self.network), "rtt_ms": dict(self.rtt_ms), "site": self.site}


@dataclass(frozen=True)
class Place:
    """What the fabric knows about one address."""

    address: ipaddress.IPv4Address
    subnet: Subnet | None = None
    source: ExternalSource | None = None

    @property
    def label(self) -> str:
        if self.subnet is not None:
            return self.subnet.subnet_id
        if self.source is not None:
            return self.source.name
        return OUTSIDE

    @property
    def endpoint(self) -> PacketEnd:
        return PacketEnd(self.address, self.subnet.subnet_id if self.subnet else None)


def _network(value: object, where: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(value), strict=False)
    except ValueError:
        raise FabricCommandError(f"{where}: {value!r} is not an IPv4 CIDR block such as 127.16.1.0/24") from None


@dataclass(frozen=True)
class Topology:
    subnets: tuple[Subnet, ...] = ()
    sources: tuple[ExternalSource, ...] = ()
    region_rtt_ms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def locate(self, address: ipaddress.IPv4Address) -> Place:
        """The most specific subnet or source holding ``address``; a subnet wins a tie."""
        best: Subnet | ExternalSource | None = None
        candidates: tuple[Subnet | ExternalSource, ...] = (*self.subnets, *self.sources)
        for candidate in candidates:
            if address in candidate.network and (best is None or candidate.network.prefixlen > best.network.prefixlen):
                best = candidate
        if isinstance(best, Subnet):
            return Place(address, subnet=best)
        if isinstance(best, ExternalSource):
            return Place(address, source=best)
        return Place(address)

    def knows(self, address: ipaddress.IPv4Address) -> bool:
        places: tuple[Subnet | ExternalSource, ...] = (*self.subnets, *self.sources)
        return any(address in place.network for place in places)

    def rtt_between_regions_ms(self, a: str, b: str) -> float:
        """As LocalEnvironment.rtt_ms: symmetric, 0 within one Region. Raises KeyError when missing."""
        if a == b:
            return 0.0
        if b in self.region_rtt_ms.get(a, {}):
            return float(self.region_rtt_ms[a][b])
        if a in self.region_rtt_ms.get(b, {}):
            return float(self.region_rtt_ms[b][a])
        raise KeyError(f"region_rtt_ms has no entry for {a} <-> {b}")

    def site_of(self, place: Place) -> str:
        """The site a place stands at: a site's own range, or a subnet on an Outpost there; "" for any other."""
        if place.source is not None and place.source.site:
            return place.source.name
        return place.subnet.site if place.subnet is not None else ""

    def rtt_ms(self, a: Place, b: Place) -> float:
        """Round trip between two places. The host itself (``outside``) adds no delay.

        A subnet on an Outpost is at its site: nothing to the site's own addresses, the site's RTT to a Region."""
        site_a, site_b = self.site_of(a), self.site_of(b)
        if site_a and site_a == site_b:
            return 0.0
        for site, other in ((a.subnet.site if a.subnet else "", b), (b.subnet.site if b.subnet else "", a)):
            if site and other.subnet is not None and not other.subnet.site:
                source = next((s for s in self.sources if s.site and s.name == site), None)
                return float(source.rtt_ms.get(other.subnet.region, 0.0)) if source is not None else 0.0
        if a.subnet is not None and b.subnet is not None:
            return self.rtt_between_regions_ms(a.subnet.region, b.subnet.region)
        for source, other in ((a.source, b), (b.source, a)):
            if source is not None and other.subnet is not None:
                return float(source.rtt_ms.get(other.subnet.region, 0.0))
        return 0.0

    def one_way_delay_s(self, a: Place, b: Place) -> float:
        return self.rtt_ms(a, b) / 2000.0

    def as_json(self) -> dict[str, Any]:
        return {
            "subnets": [s.as_json() for s in self.subnets],
            "sources": [s.as_json() for s in self.sources],
            "region_rtt_ms": {a: dict(row) for a, row in self.region_rtt_ms.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Topology":
        """Parse a ``set_topology`` command. Raises FabricCommandError naming the bad field and value.

        Every pair of Regions that holds a subnet must have an RTT, so a missing figure is caught
        when the topology is set, not when the first packet crosses.
        """
        try:
            subnets = tuple(
                Subnet(str(s["subnet_id"]), _network(s["cidr"], f"subnets[{i}].cidr"), str(s["region"]), str(s.get("az", "")),
                       str(s.get("site", "")))
                for i, s in enumerate(data.get("subnets", []))
            )
            sources = tuple(
                ExternalSource(str(s["name"]), _network(s["cidr"], f"sources[{i}].cidr"),
                               {str(r): float(v) for r, v in dict(s.get("rtt_ms", {})).items()}, bool(s.get("site", False)))
                for i, s in enumerate(data.get("sources", []))
            )
            matrix = {str(a): {str(b): float(v) for b, v in dict(row).items()}
                      for a, row in dict(data.get("region_rtt_ms", {})).items()}
        except (KeyError, TypeError, ValueError) as error:
            raise FabricCommandError(f"set_topology: {error!r}; subnets need subnet_id, cidr, region; sources need name, cidr") from None
        topology = cls(subnets, sources, matrix)
        regions = sorted({s.region for s in subnets})
        for i, a in enumerate(regions):
            for b in regions[i + 1:]:
                try:
                    topology.rtt_between_regions_ms(a, b)
                except KeyError as error:
                    raise FabricCommandError(f"set_topology: {error.args[0]}; give region_rtt_ms for every pair of Regions") from None
        return topology
