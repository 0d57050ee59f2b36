"""Sites outside AWS: the warehouse and the retail stores, and the links that join them to Regions.

A site has an address range (loopback on the local stack, the site's own network on AWS), a location
and a base round trip to each Region. Traffic between a site and a Region flows only over the site's
links: Direct Connect, a Site-to-Site VPN or an Outpost's service link. Where a site has several links
to one Region, routing prefers the highest ``preference`` that BGP still advertises (Direct Connect
over the VPN, as AWS's route priority does for the same prefix).

BGP timings are AWS seconds (scaled on the local stack): a dead link's routes are withdrawn after the
hold time (AWS's default 90 s, keepalive 30 s), or after BFD's detection time (300 ms x 3 by default
on Direct Connect) when BFD is on.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LINK_TYPES = ("direct_connect", "vpn", "service_link")
# Routing's default preference per link type: Direct Connect wins over the VPN for the same prefix.
DEFAULT_PREFERENCE = {"direct_connect": 200, "service_link": 150, "vpn": 100}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def iso_country(value: str) -> str:
    """``value`` if it is an ISO 3166 alpha-2 code (as Route 53's geolocation and WAF's geo match take)."""
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code such as US or DE")
    return value


class SiteLocation(_Model):
    """Where the site is (a city, for the report and for reading the RTTs)."""

    city: str = Field(min_length=1)
    country: str
    subdivision: str = ""

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return iso_country(value)


class SiteLink(_Model):
    """One link from the site to a Region, and how BGP runs over it."""

    type: Literal["direct_connect", "vpn", "service_link"]
    region: str
    # Added to the site's base RTT to the Region on this path (a VPN crosses the internet and IPsec).
    added_rtt_ms: float = Field(default=0.0, ge=0, le=10_000)
    # Each chunk on this path waits a further uniform [0, jitter_ms) one way.
    jitter_ms: float = Field(default=0.0, ge=0, le=10_000)
    preference: int | None = Field(default=None, ge=0, le=1000)
    # BGP over the link: keepalive and hold time in AWS seconds (Direct Connect's defaults 30 s and 90 s,
    # minimums 1 s and 3 s).
    bgp_keepalive_s: float = Field(default=30.0, ge=1, le=3600)
    bgp_hold_time_s: float = Field(default=90.0, ge=3, le=3600)
    # BFD (Direct Connect): detection after interval x multiplier without a packet; AWS's minimums, 300 ms x 3.
    bfd: bool = False
    bfd_interval_ms: float = Field(default=300.0, ge=300, le=60_000)
    bfd_multiplier: int = Field(default=3, ge=3, le=255)
    bgp_asn: int = Field(default=65000, ge=1, le=4294967294)  # the customer side's ASN

    @model_validator(mode="after")
    def _checks(self) -> "SiteLink":
        if self.bgp_hold_time_s < self.bgp_keepalive_s:
            raise ValueError(f"bgp_hold_time_s {self.bgp_hold_time_s:g} is shorter than bgp_keepalive_s "
                             f"{self.bgp_keepalive_s:g}; the hold time must be at least one keepalive")
        if self.bfd and self.type != "direct_connect":
            raise ValueError(f"bfd is on for a {self.type} link; AWS runs BFD on Direct Connect only")
        return self

    @property
    def route_preference(self) -> int:
        return DEFAULT_PREFERENCE[self.type] if self.preference is None else self.preference

    def detection_s(self, bfd: bool | None = None) -> float:
        """AWS seconds from the link's failure until BGP withdraws its routes (BFD when on)."""
        use_bfd = self.bfd if bfd is None else bfd
        return self.bfd_interval_ms * self.bfd_multiplier / 1000.0 if use_bfd else self.bgp_hold_time_s


class Site(_Model):
    """A place outside AWS: its range, its location, its base RTT to each Region, and its links."""

    kind: Literal["warehouse", "store", "office"]
    cidr: str
    location: SiteLocation
    rtt_ms: dict[str, float] = Field(min_length=1)
    links: dict[str, SiteLink] = Field(default_factory=dict)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 127.220.1.0/24 ({error})") from None
        return value

    @field_validator("rtt_ms")
    @classmethod
    def _rtt(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [f"RTT to {region} is {rtt} ms; it must be >= 0" for region, rtt in value.items() if rtt < 0]
        if bad:
            raise ValueError("\n".join(bad))
        return value

    @field_validator("links")
    @classmethod
    def _link_names(cls, value: dict[str, SiteLink]) -> dict[str, SiteLink]:
        bad = [name for name in value if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name)]
        if bad:
            raise ValueError(f"link names {bad} are not allowed; use lower-case letters, digits and '-'")
        return value

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


def site_problems(sites: dict[str, Site], regions: set[str]) -> list[str]:
    """Checks that need the environment's Regions: every RTT and link names one of them."""
    problems = []
    for name, site in sites.items():
        problems += [f"sites.{name}.rtt_ms names {r!r}, which is not in regions" for r in sorted(set(site.rtt_ms) - regions)]
        for link_name, link in site.links.items():
            if link.region not in regions:
                problems.append(f"sites.{name}.links.{link_name}.region {link.region!r} is not in regions {sorted(regions)}")
            elif link.region not in site.rtt_ms:
                problems.append(f"sites.{name}.links.{link_name}: the site has no rtt_ms to {link.region}")
    return problems


def link_ids(sites: dict[str, Site]) -> list[str]:
    """Every link's id, ``<site>/<link>``: how the fabric, the faults and the reports name it."""
    return [f"{name}/{link}" for name, site in sites.items() for link in site.links]
