"""Site-to-Site VPN: moto stores customer gateways, virtual private gateways and VPN connections; this
fills in each connection's ``VgwTelemetry`` (two tunnels) from the fabric's site link before moto answers.

A VPN connection tagged ``gameday:site-link`` with a site link's id (``warehouse/vpn``) is that link:
both tunnels are ``UP`` while the link is up and BGP advertises its routes, ``DOWN`` otherwise, and
``LastStatusChange`` is the link's last change. An untagged connection has no tunnel on the local
stack: its tunnels show ``DOWN`` with a message saying why (AWS shows DOWN until the customer's
device brings the tunnels up).
"""
from __future__ import annotations

import datetime
import ipaddress
import time
from typing import Any, Mapping

from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import SiteLinks

SITE_LINK_TAG = "gameday:site-link"
TUNNELS = 2  # AWS gives every VPN connection two tunnels, on two endpoints


def _at(monotonic_at: float | None) -> datetime.datetime:
    wall = time.time() if monotonic_at is None else time.time() - (time.monotonic() - monotonic_at)
    return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)


def tunnel_addresses(vpc_cidr: str | None) -> list[str]:
    """The tunnels' outside addresses: the top of the VPC's range, which no subnet of the environment uses."""
    if vpc_cidr is None:
        return ["127.255.255.253", "127.255.255.254"]
    network = ipaddress.IPv4Network(vpc_cidr)
    return [str(network[-3]), str(network[-2])][:TUNNELS]


def telemetry(link: Mapping[str, Any] | None, addresses: list[str]) -> list[dict[str, Any]]:
    """The VgwTelemetry of one VPN connection from its site link's state (None: no link)."""
    if link is None:
        return [{"OutsideIpAddress": a, "Status": "DOWN", "LastStatusChange": _at(None), "AcceptedRouteCount": 0,
                 "StatusMessage": f"no site link: tag the connection {SITE_LINK_TAG}=<site>/<link>"} for a in addresses]
    up = bool(link.get("up")) and bool(link.get("advertised"))
    events = list(link.get("events") or [])
    changed = events[-1]["at"] if events else None
    return [{"OutsideIpAddress": a, "Status": "UP" if up else "DOWN", "LastStatusChange": _at(changed),
             "AcceptedRouteCount": 1 if up else 0, "StatusMessage": "1 BGP ROUTES" if up else ""} for a in addresses]


def _describe(request: ApiRequest, plane: Any) -> ApiResponse | None:
    """Lay the live telemetry on moto's VPN connections, then let moto answer (None)."""
    provider = plane.services.find(SiteLinks)
    links = {} if provider is None else {str(s["link_id"]): s for s in provider.link_states()}
    vpc = plane.environment.regions.get(request.region)
    addresses = tunnel_addresses(vpc.vpc_cidr if vpc is not None else None)
    for connection in backends.ec2(request.region).vpn_connections.values():
        link_id = _tag(connection)
        connection.vgw_telemetry = telemetry(links.get(link_id) if link_id else None, addresses)
    return None


def _tag(connection: Any) -> str | None:
    tags = {str(t.get("key")): str(t.get("value")) for t in connection.get_tags()}
    return tags.get(SITE_LINK_TAG)


ANSWER = {"DescribeVpnConnections": _describe}
