"""The checker geography: where Route 53's health checkers sit on the fabric (one /24 per checker Region), and RTTs.

Shared by two parts: Route 53 binds its probes there, and the fabric delays them by the same RTTs.

Every checker Region gets the subnet ``instance.checker_subnet(i)``, i being the Region's position in
``environments.model.CHECKER_REGIONS`` (so a check naming its own Regions always has a subnet), and
binds its probes to the first host address in it. The fabric is told these subnets as external
sources, with an RTT to each environment Region:

- a checker Region that is also an environment Region uses the environment's RTT matrix;
- otherwise ``PUBLIC_RTT_MS``, approximate public inter-Region round trips (cloudping.co-style
  medians, rounded; stale but the right order, like the inter-Region table in environments/local.yaml);
- a pair missing from both is estimated from great-circle distance: 2 x distance / (200 km/ms, light
  in fibre) x 1.4 path inflation, which reproduces the table's figures within about 15%.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from environments.model import CHECKER_REGIONS, LocalEnvironment
from stack.local.instance import Instance


@dataclass(frozen=True)
class CheckerSite:
    """One checker: its Region and the source address its probes leave from."""

    region: str
    source_ip: str


@dataclass(frozen=True)
class CheckerLink:
    """What the fabric needs to know about one checker Region."""

    region: str
    cidr: str
    rtt_ms: Mapping[str, float]  # to each environment Region


_PAIRS = """
us-east-1 us-east-2 13 | us-east-1 us-west-1 62 | us-east-1 us-west-2 78 | us-east-1 ca-central-1 15
us-east-1 sa-east-1 115 | us-east-1 eu-west-1 68 | us-east-1 eu-west-2 76 | us-east-1 eu-central-1 89
us-east-1 ap-southeast-1 217 | us-east-1 ap-southeast-2 198 | us-east-1 ap-northeast-1 145
us-west-1 us-east-2 50 | us-west-1 us-west-2 22 | us-west-1 ca-central-1 78 | us-west-1 sa-east-1 175
us-west-1 eu-west-1 137 | us-west-1 eu-west-2 145 | us-west-1 eu-central-1 150 | us-west-1 ap-southeast-1 172
us-west-1 ap-southeast-2 139 | us-west-1 ap-northeast-1 107
us-west-2 us-east-2 50 | us-west-2 ca-central-1 60 | us-west-2 sa-east-1 175 | us-west-2 eu-west-1 120
us-west-2 eu-west-2 130 | us-west-2 eu-central-1 160 | us-west-2 ap-southeast-1 161 | us-west-2 ap-southeast-2 139
us-west-2 ap-northeast-1 97
eu-west-1 us-east-2 80 | eu-west-1 ca-central-1 70 | eu-west-1 sa-east-1 180 | eu-west-1 eu-west-2 12
eu-west-1 eu-central-1 25 | eu-west-1 ap-southeast-1 175 | eu-west-1 ap-southeast-2 255 | eu-west-1 ap-northeast-1 200
ap-southeast-1 us-east-2 200 | ap-southeast-1 ca-central-1 210 | ap-southeast-1 sa-east-1 325
ap-southeast-1 eu-west-2 170 | ap-southeast-1 eu-central-1 160 | ap-southeast-1 ap-southeast-2 93
ap-southeast-1 ap-northeast-1 70
ap-southeast-2 us-east-2 190 | ap-southeast-2 ca-central-1 200 | ap-southeast-2 sa-east-1 310
ap-southeast-2 eu-west-2 265 | ap-southeast-2 eu-central-1 250 | ap-southeast-2 ap-northeast-1 105
ap-northeast-1 us-east-2 135 | ap-northeast-1 ca-central-1 150 | ap-northeast-1 sa-east-1 255
ap-northeast-1 eu-west-2 210 | ap-northeast-1 eu-central-1 225
sa-east-1 us-east-2 125 | sa-east-1 ca-central-1 125 | sa-east-1 eu-west-2 185 | sa-east-1 eu-central-1 205
"""
PUBLIC_RTT_MS: dict[frozenset[str], float] = {
    frozenset(fields[:2]): float(fields[2])
    for pair in _PAIRS.replace("\n", " | ").split("|") if (fields := pair.split())
}

# Approximate coordinates (latitude, longitude) of each Region's metro, for the distance estimate.
REGION_COORDINATES: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4), "us-east-2": (40.0, -83.0), "us-west-1": (37.4, -121.9),
    "us-west-2": (45.8, -119.7), "ca-central-1": (45.5, -73.6), "ca-west-1": (51.0, -114.1),
    "sa-east-1": (-23.5, -46.6), "mx-central-1": (20.6, -100.4),
    "eu-west-1": (53.3, -6.3), "eu-west-2": (51.5, -0.1), "eu-west-3": (48.9, 2.4),
    "eu-central-1": (50.1, 8.7), "eu-central-2": (47.4, 8.5), "eu-north-1": (59.3, 18.1),
    "eu-south-1": (45.5, 9.2), "eu-south-2": (41.6, -0.9), "il-central-1": (32.1, 34.8),
    "me-south-1": (26.1, 50.6), "me-central-1": (25.2, 55.3), "af-south-1": (-33.9, 18.4),
    "ap-south-1": (19.1, 72.9), "ap-south-2": (17.4, 78.5), "ap-east-1": (22.3, 114.2),
    "ap-southeast-1": (1.35, 103.8), "ap-southeast-2": (-33.9, 151.2), "ap-southeast-3": (-6.2, 106.8),
    "ap-southeast-4": (-37.8, 145.0), "ap-southeast-5": (3.1, 101.7), "ap-southeast-7": (13.8, 100.5),
    "ap-northeast-1": (35.7, 139.7), "ap-northeast-2": (37.6, 127.0), "ap-northeast-3": (34.7, 135.5),
}
FIBRE_KM_PER_MS = 200.0
PATH_INFLATION = 1.4
UNKNOWN_RTT_MS = 250.0  # a Region with no coordinates here: a typical intercontinental round trip


def site_for(instance: Instance, region: str) -> CheckerSite:
    """The checker of ``region`` for this stack instance. Raises ValueError for a non-checker Region."""
    network = ipaddress.IPv4Network(instance.checker_subnet(CHECKER_REGIONS.index(region)))
    return CheckerSite(region, str(network.network_address + 1))


def sites_for(instance: Instance, regions: Iterable[str]) -> tuple[CheckerSite, ...]:
    return tuple(site_for(instance, region) for region in regions)


def estimated_rtt_ms(a: str, b: str) -> float:
    """Approximate public RTT between two Regions (table, else great-circle estimate)."""
    if a == b:
        return 0.0
    known = PUBLIC_RTT_MS.get(frozenset((a, b)))
    if known is not None:
        return known
    if a not in REGION_COORDINATES or b not in REGION_COORDINATES:
        return UNKNOWN_RTT_MS
    (lat1, lon1), (lat2, lon2) = (map(math.radians, REGION_COORDINATES[r]) for r in (a, b))
    cos_angle = (math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(lon2 - lon1))
    distance_km = 6371.0 * math.acos(max(-1.0, min(1.0, cos_angle)))
    return round(2 * distance_km / FIBRE_KM_PER_MS * PATH_INFLATION, 1)


def checker_links(environment: LocalEnvironment, instance: Instance) -> list[CheckerLink]:
    """Every checker Region's subnet and RTT to each environment Region, for the fabric."""
    links = []
    for index, region in enumerate(CHECKER_REGIONS):
        rtts = {}
        for target in environment.regions:
            if region in environment.regions:
                try:
                    rtts[target] = environment.rtt_ms(region, target)
                    continue
                except KeyError:
                    pass
            rtts[target] = estimated_rtt_ms(region, target)
        links.append(CheckerLink(region, instance.checker_subnet(index), rtts))
    return links
