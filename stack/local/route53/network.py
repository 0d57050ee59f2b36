"""Who is asking: the client network's location and latency ranking, from a source address or ECS subnet.

Route 53 decides latency and geolocation routing from the *client's network*: the EDNS Client Subnet
when the resolver sends one, else the resolver's address. Locally, a network inside a vantage point's
subnet is that vantage point (its location, and its Regions ranked by its RTTs); a network inside a
Region's VPC is that Region (ranked by the environment's RTT matrix). Anything else is unknown.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable

from environments.model import LocalEnvironment

# Where each Region's data centres are, for clients inside a Region's VPC (an EC2 instance asking).
# Only the Regions a local environment is likely to name; others get no location (geolocation: default).
REGION_LOCATIONS: dict[str, tuple[str, str, str]] = {
    "us-east-1": ("NA", "US", "VA"), "us-east-2": ("NA", "US", "OH"),
    "us-west-1": ("NA", "US", "CA"), "us-west-2": ("NA", "US", "OR"),
    "ca-central-1": ("NA", "CA", ""), "sa-east-1": ("SA", "BR", ""),
    "eu-west-1": ("EU", "IE", ""), "eu-west-2": ("EU", "GB", ""), "eu-west-3": ("EU", "FR", ""),
    "eu-central-1": ("EU", "DE", "HE"), "eu-north-1": ("EU", "SE", ""), "eu-south-1": ("EU", "IT", ""),
    "ap-southeast-1": ("AS", "SG", ""), "ap-southeast-2": ("OC", "AU", ""), "ap-northeast-1": ("AS", "JP", ""),
    "ap-northeast-2": ("AS", "KR", ""), "ap-south-1": ("AS", "IN", ""), "me-south-1": ("AS", "BH", ""),
    "af-south-1": ("AF", "ZA", ""),
}
CACHE_SIZE = 4096


@dataclass(frozen=True)
class Location:
    continent: str
    country: str
    subdivision: str = ""


@dataclass(frozen=True)
class ClientNetwork:
    """What routing knows about a client network: where it is and which Regions are nearest."""

    name: str  # the vantage point or Region it was matched to, for logs and status
    location: Location | None
    region_ranking: tuple[str, ...]  # nearest first
    prefix_len: int  # the matched subnet's prefix: the ECS scope of answers that depended on it


@dataclass(frozen=True)
class _Entry:
    network: ipaddress.IPv4Network
    client: ClientNetwork


class NetworkMap:
    """Maps a client address or ECS subnet to the ClientNetwork it belongs to."""

    def __init__(self, entries: Iterable[tuple[str, ClientNetwork]] = ()) -> None:
        # Most specific subnet first, so a vantage subnet nested in a larger block wins.
        self._entries = sorted(
            (_Entry(ipaddress.IPv4Network(cidr), client) for cidr, client in entries),
            key=lambda e: -e.network.prefixlen,
        )
        # Lookups repeat (a vantage point's probes, a resolver's address); ipaddress is slow, so remember them.
        self._cache: dict[tuple[str, int], ClientNetwork | None] = {}

    @classmethod
    def from_environment(cls, environment: LocalEnvironment) -> "NetworkMap":
        """Vantage points and Region VPCs of a (resolved) local environment."""
        entries: list[tuple[str, ClientNetwork]] = []
        for name, vp in environment.vantage_points.items():
            ranking = tuple(sorted(vp.rtt_ms, key=lambda r: (vp.rtt_ms[r], r)))
            entries.append((vp.subnet, ClientNetwork(
                name, Location(vp.continent, vp.country, vp.subdivision), ranking, vp.network.prefixlen)))
        for name, region in environment.regions.items():
            def rtt(other: str, here: str = name) -> float:
                try:
                    return environment.rtt_ms(here, other)
                except KeyError:
                    return float("inf")
            ranking = tuple(sorted(environment.regions, key=lambda r: (rtt(r), r)))
            where = REGION_LOCATIONS.get(name)
            entries.append((region.vpc_cidr, ClientNetwork(
                name, Location(*where) if where else None, ranking, region.network.prefixlen)))
        return cls(entries)

    def lookup(self, address: str, prefix_len: int = 32) -> ClientNetwork | None:
        """The ClientNetwork containing ``address/prefix_len``; None when it is unknown or spans several."""
        key = (address, prefix_len)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(address, prefix_len)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = found
        return found

    def _lookup(self, address: str, prefix_len: int) -> ClientNetwork | None:
        try:
            network = ipaddress.IPv4Network(f"{address}/{prefix_len}", strict=False)
        except ValueError:
            return None
        for entry in self._entries:
            if network.subnet_of(entry.network):
                return entry.client
        return None
