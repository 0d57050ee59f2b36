"""Direct Connect and Site-to-Site VPN on the control plane: the warehouse's links, their live state, AWS's errors."""
from __future__ import annotations

import time
from typing import Any, Iterator, Mapping

import boto3
import pytest
from botocore.exceptions import ClientError

from base.timescale import TimeScale
from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.part import LOCAL_CREDENTIALS
from stack.local.services import Services, SiteLinks
from tests.conftest import worker_index

REGION = "us-west-2"


class FakeSiteLinks:
    """The fabric's SiteLinks, as state only: what the control plane reads and changes."""

    def __init__(self) -> None:
        self.links = {name: {"link_id": name, "up": True, "advertised": True, "events": []}
                      for name in ("warehouse/dx", "warehouse/vpn")}

    def set_link_state(self, link_id: str, up: bool) -> None:
        self.links[link_id].update(up=up, advertised=up, events=[{"at": time.monotonic(), "event": str(up)}])

    def set_bfd(self, link_id: str, enabled: bool) -> None:
        pass

    def link_states(self) -> list[Mapping[str, Any]]:
        return [dict(link) for link in self.links.values()]


@pytest.fixture(scope="module")
def plane() -> Iterator[tuple[Any, FakeSiteLinks, ControlPlane]]:
    services, links = Services(), FakeSiteLinks()
    services.provide(SiteLinks, links, by="a test")
    control = ControlPlane(services=services)
    control.directconnect.timescale = TimeScale(0.001)
    server = AwsEndpoint(control, f"127.0.{worker_index() + 20}.4", 0)
    server.start()
    session = boto3.session.Session(region_name=REGION, **LOCAL_CREDENTIALS)
    try:
        yield (lambda service: session.client(service, region_name=REGION, endpoint_url=server.url)), links, control
    finally:
        server.stop()


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_private_vif_on_the_warehouse_connection_follows_its_site_link_and_the_failover_test(plane: Any) -> None:
    client, links, _ = plane
    dx, ec2 = client("directconnect"), client("ec2")
    connection = dx.create_connection(location="EqSe2", bandwidth="1Gbps", connectionName="warehouse-dx",
                                      tags=[{"key": "gameday:site-link", "value": "warehouse/dx"}])
    assert connection["connectionId"].startswith("dxcon-")
    vgw = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)["VpnGateway"]["VpnGatewayId"]
    gateway = dx.create_direct_connect_gateway(directConnectGatewayName="securecart", amazonSideAsn=64512)
    gateway_id = gateway["directConnectGateway"]["directConnectGatewayId"]
    dx.create_direct_connect_gateway_association(directConnectGatewayId=gateway_id, gatewayId=vgw)
    vif = dx.create_private_virtual_interface(connectionId=connection["connectionId"], newPrivateVirtualInterface={
        "virtualInterfaceName": "warehouse", "vlan": 101, "asn": 65010, "directConnectGatewayId": gateway_id})
    vif_id = vif["virtualInterfaceId"]
    [shown] = dx.describe_virtual_interfaces(virtualInterfaceId=vif_id)["virtualInterfaces"]
    assert (shown["virtualInterfaceState"], shown["bgpPeers"][0]["bgpStatus"]) == ("available", "up")
    test = dx.start_bgp_failover_test(virtualInterfaceId=vif_id, testDurationInMinutes=1)["virtualInterfaceTest"]
    assert test["status"] == "in-progress" and links.links["warehouse/dx"]["up"] is False
    [shown] = dx.describe_virtual_interfaces(virtualInterfaceId=vif_id)["virtualInterfaces"]
    assert (shown["virtualInterfaceState"], shown["bgpPeers"][0]["bgpStatus"]) == ("testing", "down")
    # The test ends by itself after its (scaled) duration, and the link returns.
    deadline = time.monotonic() + 5
    while links.links["warehouse/dx"]["up"] is False and time.monotonic() < deadline:
        time.sleep(0.01)
    assert links.links["warehouse/dx"]["up"] is True
    [history] = dx.list_virtual_interface_test_history(virtualInterfaceId=vif_id)["virtualInterfaceTestHistory"]
    assert history["status"] == "completed"
    with pytest.raises(ClientError) as refused:
        dx.stop_bgp_failover_test(virtualInterfaceId=vif_id)
    assert code(refused) == "DirectConnectClientException"


@pytest.mark.parametrize("connection, vif, message", [
    ("dxcon-ffffffff", {"asn": 65010}, "Connection dxcon-ffffffff does not exist"),
    (None, {"asn": 0}, "not a valid BGP ASN"),
    (None, {"asn": 2147483647}, "not a valid BGP ASN"),
    (None, {"asn": 65010, "vlan": 5000}, "vlan 5000"),
])
def test_a_bad_virtual_interface_gets_aws_error(plane: Any, connection: str | None, vif: dict, message: str) -> None:
    dx = plane[0]("directconnect")
    if connection is None:
        connection = dx.create_connection(location="EqSe2", bandwidth="1Gbps", connectionName="spare")["connectionId"]
    gateway = dx.create_direct_connect_gateway(directConnectGatewayName="g")["directConnectGateway"]
    with pytest.raises(ClientError) as refused:
        dx.create_private_virtual_interface(connectionId=connection, newPrivateVirtualInterface={
            "virtualInterfaceName": "x", "vlan": 7, "directConnectGatewayId": gateway["directConnectGatewayId"], **vif})
    assert code(refused) == "DirectConnectClientException" and message in str(refused.value)


def test_the_vpn_connection_reports_two_tunnels_that_follow_the_site_link(plane: Any) -> None:
    client, links, _ = plane
    ec2 = client("ec2")
    cgw = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="127.220.1.1", BgpAsn=65010)["CustomerGateway"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    vpn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw["CustomerGatewayId"], VpnGatewayId=vgw,
                                    TagSpecifications=[{"ResourceType": "vpn-connection", "Tags": [
                                        {"Key": "gameday:site-link", "Value": "warehouse/vpn"}]}])["VpnConnection"]

    def statuses() -> list[str]:
        [found] = ec2.describe_vpn_connections(VpnConnectionIds=[vpn["VpnConnectionId"]])["VpnConnections"]
        return [tunnel["Status"] for tunnel in found["VgwTelemetry"]]

    assert statuses() == ["UP", "UP"]
    links.set_link_state("warehouse/vpn", False)
    try:
        assert statuses() == ["DOWN", "DOWN"]
    finally:
        links.set_link_state("warehouse/vpn", True)
