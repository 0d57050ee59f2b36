"""The warehouse's links to AWS on the local stack: Direct Connect with a Site-to-Site VPN as backup.

For every site of the environment with a ``direct_connect`` or ``vpn`` link, in the link's Region:

- Direct Connect: a connection tagged ``gameday:site-link=<site>/<link>`` (what makes it the fabric's
  link), a Direct Connect gateway associated with a virtual private gateway attached to the stack's
  VPC, and a private virtual interface on the connection with the site's BGP ASN;
- VPN: a customer gateway (the site's router, its ASN), and a VPN connection to the same virtual
  private gateway, tagged with its site link (two tunnels; ``VgwTelemetry`` follows the link).

Idempotent: what exists (found by its site-link tag) is kept. Only for a local environment: on AWS a
Direct Connect connection is a physical cross-connect ordered from a partner, not something a
build creates; a real estate's links are found, not built (see docs/hybrid.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from base.clients import ClientFactory
from environments.model import LocalEnvironment
from environments.sites import Site

SITE_LINK_TAG = "gameday:site-link"
STACK_TAG = "gameday:stack"
# A Direct Connect location per Region, for the connection's ``location`` (AWS's location codes).
LOCATIONS = {"us-west-2": "EqSe2", "us-east-1": "EqDC2", "eu-central-1": "EqFA5", "ap-southeast-1": "EqSG2"}
VLAN = 101
AMAZON_SIDE_ASN = 64512


@dataclass(frozen=True)
class SiteLinks:
    """What one site's links are in AWS's API."""

    site: str
    region: str
    vpn_gateway_id: str
    connection_id: str | None = None
    virtual_interface_id: str | None = None
    gateway_id: str | None = None  # the Direct Connect gateway
    customer_gateway_id: str | None = None
    vpn_connection_id: str | None = None
    dx_link: str | None = None  # "<site>/<link>" in the fabric
    vpn_link: str | None = None


def ensure(environment: LocalEnvironment, clients: ClientFactory, tags: list[dict[str, str]],
           stack_name: str = "securecart") -> list[SiteLinks]:
    """Create what is missing of every site's Direct Connect and VPN links; their handles."""
    return [_site(name, site, clients, tags, stack_name) for name, site in environment.sites.items()
            if any(link.type in ("direct_connect", "vpn") for link in site.links.values())]


def _site(name: str, site: Site, clients: ClientFactory, tags: list[dict[str, str]], stack_name: str) -> SiteLinks:
    dx_name = next((n for n, link in site.links.items() if link.type == "direct_connect"), None)
    vpn_name = next((n for n, link in site.links.items() if link.type == "vpn"), None)
    region = site.links[dx_name or vpn_name or ""].region
    ec2 = clients("ec2", region)
    vgw = _vpn_gateway(ec2, name, tags, stack_name)
    handle = SiteLinks(name, region, vgw)
    if dx_name is not None:
        link = site.links[dx_name]
        dx = clients("directconnect", region)
        link_id = f"{name}/{dx_name}"
        connection = _connection(dx, link_id, region, tags)
        gateway = _dx_gateway(dx, f"{stack_name}-{name}", vgw, tags)
        vif = _vif(dx, connection, gateway, link.bgp_asn, f"{name}-{dx_name}", _dx_tags(tags))
        handle = SiteLinks(name, region, vgw, connection, vif, gateway, dx_link=link_id)
    if vpn_name is not None:
        link = site.links[vpn_name]
        link_id = f"{name}/{vpn_name}"
        cgw, vpn = _vpn(ec2, link_id, str(site.network[1]), link.bgp_asn, vgw, tags)
        handle = SiteLinks(name, region, vgw, handle.connection_id, handle.virtual_interface_id, handle.gateway_id,
                           cgw, vpn, handle.dx_link, link_id)
    return handle


def _ec2_tags(kind: str, tags: list[dict[str, str]], extra: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": tags + [{"Key": k, "Value": v} for k, v in extra.items()]}]


def _vpn_gateway(ec2: Any, site: str, tags: list[dict[str, str]], stack_name: str) -> str:
    """The virtual private gateway of the site's links, attached to the stack's VPC in the Region."""
    found = ec2.describe_vpn_gateways(Filters=[{"Name": f"tag:{SITE_LINK_TAG}", "Values": [site]},
                                               {"Name": "state", "Values": ["available"]}])["VpnGateways"]
    if found:
        return str(found[0]["VpnGatewayId"])
    vpcs = ec2.describe_vpcs(Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [stack_name]}])["Vpcs"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=AMAZON_SIDE_ASN,
                                 TagSpecifications=_ec2_tags("vpn-gateway", tags, {SITE_LINK_TAG: site}))["VpnGateway"]
    if vpcs:
        ec2.attach_vpn_gateway(VpcId=vpcs[0]["VpcId"], VpnGatewayId=vgw["VpnGatewayId"])
    return str(vgw["VpnGatewayId"])


def _dx_tags(tags: list[dict[str, str]], link_id: str | None = None) -> list[dict[str, str]]:
    extra = [{"key": SITE_LINK_TAG, "value": link_id}] if link_id else []
    return [{"key": t["Key"], "value": t["Value"]} for t in tags] + extra


def _connection(dx: Any, link_id: str, region: str, tags: list[dict[str, str]]) -> str:
    for connection in dx.describe_connections()["connections"]:
        if {"key": SITE_LINK_TAG, "value": link_id} in connection.get("tags", []) and connection["connectionState"] != "deleted":
            return str(connection["connectionId"])
    made = dx.create_connection(location=LOCATIONS.get(region, "EqSe2"), bandwidth="1Gbps",
                                connectionName=link_id.replace("/", "-"), tags=_dx_tags(tags, link_id))
    return str(made["connectionId"])


def _dx_gateway(dx: Any, name: str, vgw: str, tags: list[dict[str, str]]) -> str:
    gateway = next((g for g in dx.describe_direct_connect_gateways()["directConnectGateways"]
                    if g["directConnectGatewayName"] == name), None)
    if gateway is None:
        gateway = dx.create_direct_connect_gateway(directConnectGatewayName=name, amazonSideAsn=AMAZON_SIDE_ASN,
                                                   tags=_dx_tags(tags))["directConnectGateway"]
    gateway_id = str(gateway["directConnectGatewayId"])
    if not dx.describe_direct_connect_gateway_associations(directConnectGatewayId=gateway_id,
                                                          virtualGatewayId=vgw)["directConnectGatewayAssociations"]:
        dx.create_direct_connect_gateway_association(directConnectGatewayId=gateway_id, gatewayId=vgw)
    return gateway_id


def _vif(dx: Any, connection: str, gateway: str, asn: int, name: str, tags: list[dict[str, str]]) -> str:
    for vif in dx.describe_virtual_interfaces(connectionId=connection)["virtualInterfaces"]:
        return str(vif["virtualInterfaceId"])
    made = dx.create_private_virtual_interface(connectionId=connection, newPrivateVirtualInterface={
        "virtualInterfaceName": name, "vlan": VLAN, "asn": asn, "directConnectGatewayId": gateway, "tags": tags})
    return str(made["virtualInterfaceId"])


def _vpn(ec2: Any, link_id: str, router: str, asn: int, vgw: str, tags: list[dict[str, str]]) -> tuple[str, str]:
    by_link = [{"Name": f"tag:{SITE_LINK_TAG}", "Values": [link_id]}]
    found = [c for c in ec2.describe_vpn_connections(Filters=by_link)["VpnConnections"] if c["State"] != "deleted"]
    if found:
        return str(found[0]["CustomerGatewayId"]), str(found[0]["VpnConnectionId"])
    cgw = ec2.create_customer_gateway(Type="ipsec.1", PublicIp=router, BgpAsn=asn,
                                      TagSpecifications=_ec2_tags("customer-gateway", tags, {SITE_LINK_TAG: link_id}))
    cgw_id = str(cgw["CustomerGateway"]["CustomerGatewayId"])
    vpn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw_id, VpnGatewayId=vgw,
                                    TagSpecifications=_ec2_tags("vpn-connection", tags, {SITE_LINK_TAG: link_id}))
    return cgw_id, str(vpn["VpnConnection"]["VpnConnectionId"])
