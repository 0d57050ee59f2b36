"""Outposts in the environment, and site actions: faults that happen on the customer's own network.

An *Outpost* stands at one of the environment's sites (a retail store) and is anchored to an
Availability Zone of its parent Region, which its service link reaches. The control plane answers
the Outposts API (ListOutposts, GetOutpost, ListSites) from these declarations: moto has no Outposts.

A *site action* is a fault no AWS API call can make, such as cutting a store's uplink. On the local
stack it is a cut of the site's fabric links of the kinds it names; on a real estate it runs the
command the team configures (and its rollback command afterwards). Both are declared here, so the one
place where the two kinds of environment differ is written down in the environment file.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from environments.sites import LINK_TYPES, Site

_AZ = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-\d)[a-z]$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Outpost(_Model):
    """One Outpost: its ids (as AWS prints them), the site it stands at and its anchor AZ."""

    outpost_id: str = Field(pattern=r"^op-[a-f0-9]{17}$")
    site_id: str = Field(pattern=r"^os-[a-f0-9]{17}$")
    site: str = Field(min_length=1)  # the environment site (sites.<name>) the rack stands at
    availability_zone: str
    description: str = ""
    # The Outposts site's operating address, as ListSites shows it.
    country_code: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    state_or_region: str = ""
    city: str = ""

    @field_validator("availability_zone")
    @classmethod
    def _az(cls, value: str) -> str:
        if not _AZ.match(value):
            raise ValueError(f"{value!r} is not an Availability Zone name such as us-east-1a")
        return value

    @property
    def region(self) -> str:
        """The parent Region: the one its service link reaches."""
        match = _AZ.match(self.availability_zone)
        assert match is not None  # checked by the validator
        return match["region"]

    def arn(self, account_id: str) -> str:
        return f"arn:aws:outposts:{self.region}:{account_id}:outpost/{self.outpost_id}"

    def site_arn(self, account_id: str) -> str:
        return f"arn:aws:outposts:{self.region}:{account_id}:site/{self.site_id}"


class SiteAction(_Model):
    """A fault on a site's own network: a fabric cut locally, the team's command on a real estate."""

    site: str = Field(min_length=1)
    description: str = ""
    # Local stack: the site's links of these kinds are cut while the fault lasts.
    links: list[str] = Field(default_factory=lambda: ["service_link"], min_length=1)
    # Real estate: argv run to inject (for example a script that shuts a router port) and to roll back.
    command: list[str] = Field(default_factory=list)
    rollback_command: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=60, gt=0, le=3600)  # wall seconds a command may take
    # How long an experiment holds the action, in AWS seconds (scaled on the local stack), as a FIS
    # action's duration does. The store-offline drill: an hour.
    duration_s: float = Field(default=3600, gt=0, le=86400)

    @field_validator("links")
    @classmethod
    def _links(cls, value: list[str]) -> list[str]:
        bad = [kind for kind in value if kind not in LINK_TYPES]
        if bad:
            raise ValueError(f"unknown link kind {bad[0]!r}; allowed: {', '.join(LINK_TYPES)}")
        return value


def problems(outposts: Mapping[str, Outpost], actions: Mapping[str, SiteAction], sites: Mapping[str, Site],
             regions: set[str], availability_zones: set[str], needs_commands: bool) -> list[str]:
    """Checks across the environment: ids unique, AZs and sites known, links present, commands where needed."""
    found = []
    seen: dict[str, str] = {}
    for name, outpost in outposts.items():
        if outpost.outpost_id in seen:
            found.append(f"outposts.{name}.outpost_id {outpost.outpost_id!r} is also outposts.{seen[outpost.outpost_id]}'s; "
                         "each Outpost has its own id")
        seen.setdefault(outpost.outpost_id, name)
        if outpost.region not in regions:
            found.append(f"outposts.{name}.availability_zone {outpost.availability_zone!r} is in {outpost.region}, "
                         f"which is not in regions: {sorted(regions)}")
        elif outpost.availability_zone not in availability_zones:
            found.append(f"outposts.{name}.availability_zone {outpost.availability_zone!r} is not one of "
                         f"regions.{outpost.region}.availability_zones")
        site = sites.get(outpost.site)
        if site is None:
            found.append(f"outposts.{name}.site {outpost.site!r} is not in sites: {sorted(sites)}")
        elif not any(link.type == "service_link" and link.region == outpost.region for link in site.links.values()):
            found.append(f"outposts.{name}: site {outpost.site} has no service_link to {outpost.region}, the Outpost's "
                         f"parent Region; add one under sites.{outpost.site}.links")
    for name, action in actions.items():
        site = sites.get(action.site)
        if site is None:
            found.append(f"site_actions.{name}.site {action.site!r} is not in sites: {sorted(sites)}")
        else:
            kinds = {link.type for link in site.links.values()}
            found += [f"site_actions.{name}.links names {kind!r}, but site {action.site} has no link of that type "
                      f"(it has: {', '.join(sorted(kinds)) or 'none'})" for kind in action.links if kind not in kinds]
        if needs_commands and not action.command:
            found.append(f"site_actions.{name}.command is empty: on a real estate a site action runs the command "
                         "you give (for example a script that shuts the store's router port), and rollback_command after")
        if action.command and not action.rollback_command:
            found.append(f"site_actions.{name}.rollback_command is empty: a fault must be rolled back; give the command "
                         f"that undoes site_actions.{name}.command")
    return found


# Where the stores' services listen (the stores part serves them, experiments and probes reach them):
# each store's point of sale at its site's 10th address (the instance's shifted range); the cloud's sales
# ledger in the Outposts' parent Region, at the address each POS reports in its status.
POS_PORT = 8090
LEDGER_PORT = 8091


def pos_address(site: Site) -> str:
    return str(site.network.network_address + 10)


def ledger_region(outposts: Mapping[str, Outpost]) -> str | None:
    """The Region the stores sync their sales to: the Outposts' parent (the first Outpost's)."""
    return next((o.region for o in outposts.values()), None)
