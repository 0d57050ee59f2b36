"""Where the warehouse's services listen: derived from the environment, so a probe finds them without asking.

The local stack's warehouse part starts them there, and the Direct Connect experiment reaches them there;
both read it here, in the environment's floor, as the stores' point of sale is read in environments.outposts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the warehouse's own process reads only the ports: importing the model would load pydantic there
    from environments.model import LocalEnvironment

INVENTORY_PORT = 8090
CONTROL_PORT = 8091
ROUTER_PORT = 8092
INVENTORY_HOST_NUMBER = 250  # in the Region's first subnet; EC2 hands out addresses from the bottom
WAREHOUSE_HOST_NUMBER = 10


def warehouse_site(environment: LocalEnvironment) -> str | None:
    """The first site of kind ``warehouse`` with a link to a Region; None when the environment has none."""
    return next((name for name, site in environment.sites.items() if site.kind == "warehouse" and site.links), None)


def inventory_region(environment: LocalEnvironment, site: str) -> str:
    return next(iter(environment.sites[site].links.values())).region


def inventory_address(environment: LocalEnvironment, site: str) -> tuple[str, int]:
    region = environment.regions[inventory_region(environment, site)]
    first = next(iter(region.availability_zones.values()))
    return str(first.network[INVENTORY_HOST_NUMBER]), INVENTORY_PORT


def warehouse_address(environment: LocalEnvironment, site: str) -> tuple[str, int]:
    """The warehouse service's address at its site, and its control port."""
    return str(environment.sites[site].network[WAREHOUSE_HOST_NUMBER]), CONTROL_PORT
