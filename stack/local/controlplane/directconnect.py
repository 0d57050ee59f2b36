"""Direct Connect's API, answered by the control plane: moto has connections only (with ARNs for ids).

Connections, Direct Connect gateways and their associations with virtual private gateways, private
virtual interfaces and the BGP failover test (``StartBgpFailoverTest``, which FIS's
``aws:directconnect:virtual-interface-disconnect`` runs). A connection tagged ``gameday:site-link`` with
a site link's id (``warehouse/dx``, from the environment's ``sites``) is that link in the fabric: its
VIFs' ``bgpStatus`` and ``virtualInterfaceState`` are read from the link, and a failover test takes
the link down for its duration (the fabric's BGP then withdraws its routes after the hold time, or
BFD's detection time, and traffic moves to the VPN). Errors are AWS's: DirectConnectClientException
(400) with a message naming the bad value.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from typing import Any, Callable, Mapping

from base.timescale import TimeScale
from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import Services, SiteLinks

JSON = {"Content-Type": "application/x-amz-json-1.1"}
SITE_LINK_TAG = "gameday:site-link"
ACCOUNT = "123456789012"
MAX_ASN = 2147483646  # botocore's NewPrivateVirtualInterface.asn: 1-2147483646
# Amazon-side ASNs of a Direct Connect gateway (the API reference, CreateDirectConnectGateway).
GATEWAY_ASN_RANGES = ((64512, 65534), (4200000000, 4294967294))
TEST_MINUTES_DEFAULT, TEST_MINUTES_MAX = 180, 4320  # StartBgpFailoverTest.testDurationInMinutes


def _client_error(message: str) -> AwsError:
    return AwsError("DirectConnectClientException", message)


def _id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _tags(params: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"key": str(t.get("key")), "value": str(t.get("value", ""))} for t in params.get("tags") or []]


class DirectConnect:
    """The stored Direct Connect resources of the local account (all Regions), and the failover tests."""

    def __init__(self, services: Services, timescale: TimeScale) -> None:
        self.services = services
        self.timescale = timescale
        self.lock = threading.RLock()
        self.connections: dict[str, dict[str, Any]] = {}
        self.gateways: dict[str, dict[str, Any]] = {}
        self.associations: dict[str, dict[str, Any]] = {}
        self.vifs: dict[str, dict[str, Any]] = {}
        self.tests: dict[str, dict[str, Any]] = {}  # testId -> VirtualInterfaceTestHistory
        self._timers: dict[str, threading.Timer] = {}  # VIF -> the end of its running test

    # -- helpers -----------------------------------------------------------------------------------

    def site_link(self, vif: Mapping[str, Any]) -> str | None:
        connection = self.connections.get(str(vif.get("connectionId")), {})
        return next((t["value"] for t in connection.get("tags", []) if t["key"] == SITE_LINK_TAG), None)

    def _links(self) -> dict[str, Mapping[str, Any]]:
        provider = self.services.find(SiteLinks)
        return {} if provider is None else {str(s["link_id"]): s for s in provider.link_states()}

    def shown_vif(self, vif: Mapping[str, Any], links: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The VIF with its live state: BGP follows the site link's advertised routes."""
        shown = dict(vif)
        link = links.get(self.site_link(vif) or "")
        testing = any(t["virtualInterfaceId"] == vif["virtualInterfaceId"] and t["status"] == "in-progress"
                      for t in self.tests.values())
        if link is not None:
            status = "up" if link.get("up") and link.get("advertised") else "down"
            shown["bgpPeers"] = [{**peer, "bgpStatus": status} for peer in vif["bgpPeers"]]
            shown["virtualInterfaceState"] = "testing" if testing else ("available" if link.get("up") else "down")
        return shown

    def vif(self, vif_id: str) -> dict[str, Any]:
        found = self.vifs.get(vif_id)
        if found is None:
            raise _client_error(f"Virtual interface {vif_id} does not exist or is not owned by account {ACCOUNT}")
        return found

    # -- the failover test -------------------------------------------------------------------------

    def start_test(self, vif_id: str, peers: list[str], minutes: int) -> dict[str, Any]:
        with self.lock:
            vif = self.vif(vif_id)
            if any(t["virtualInterfaceId"] == vif_id and t["status"] == "in-progress" for t in self.tests.values()):
                raise _client_error(f"A BGP failover test is already in progress on {vif_id}")
            known = [p["bgpPeerId"] for p in vif["bgpPeers"]]
            unknown = sorted(set(peers) - set(known))
            if unknown:
                raise _client_error(f"BGP peers {unknown} are not on {vif_id}; its peers: {known}")
            link = self.site_link(vif)
            provider = self.services.find(SiteLinks)
            if link is None or provider is None:
                raise _client_error(f"{vif_id}'s connection {vif['connectionId']} carries no site link (tag "
                                    f"{SITE_LINK_TAG}=<site>/<link> from the environment's sites), so the local stack "
                                    "has no BGP session to bring down")
            provider.set_link_state(link, False)
            test_id = str(uuid.uuid4())
            test: dict[str, Any] = {"testId": test_id, "virtualInterfaceId": vif_id, "bgpPeers": peers or known,
                    "status": "in-progress", "ownerAccount": ACCOUNT, "testDurationInMinutes": minutes,
                    "startTime": time.time()}
            self.tests[test_id] = test
            timer = threading.Timer(self.timescale.to_wall(minutes * 60.0), self.stop_test, (vif_id, "completed"))
            timer.daemon = True
            self._timers[vif_id] = timer
            timer.start()
            return dict(test)

    def stop_test(self, vif_id: str, status: str = "completed") -> dict[str, Any]:
        with self.lock:
            self.vif(vif_id)
            running = [t for t in self.tests.values() if t["virtualInterfaceId"] == vif_id and t["status"] == "in-progress"]
            if not running:
                raise _client_error(f"No BGP failover test is in progress on {vif_id}")
            timer = self._timers.pop(vif_id, None)
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()
            link, provider = self.site_link(self.vifs[vif_id]), self.services.find(SiteLinks)
            if link is not None and provider is not None:
                provider.set_link_state(link, True)
            test = running[0]
            test.update(status=status, endTime=time.time())
            return dict(test)


def _ok(payload: Mapping[str, Any]) -> ApiResponse:
    return ApiResponse(200, json.dumps(payload, default=str).encode(), JSON)


Handler = Callable[[ApiRequest, Any], ApiResponse]


def _create_connection(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    for name in ("location", "bandwidth", "connectionName"):
        if not p.get(name):
            raise _client_error(f"{name} is required")
    connection = {"ownerAccount": ACCOUNT, "connectionId": _id("dxcon"), "connectionName": p["connectionName"],
                  "connectionState": "available", "region": request.region, "location": p["location"],
                  "bandwidth": p["bandwidth"], "awsDeviceV2": f"{p['location']}-local", "jumboFrameCapable": False,
                  "hasLogicalRedundancy": "no", "macSecCapable": False, "encryptionMode": "no_encrypt",
                  "tags": _tags(p), "loaIssueTime": time.time()}
    with dx.lock:
        dx.connections[connection["connectionId"]] = connection
    return _ok(connection)


def _describe_connections(request: ApiRequest, plane: Any) -> ApiResponse:
    dx, wanted = plane.directconnect, request.params.get("connectionId")
    with dx.lock:
        if wanted and wanted not in dx.connections:
            raise _client_error(f"Connection {wanted} does not exist or is not owned by account {ACCOUNT}")
        found = [c for c in dx.connections.values() if c["region"] == request.region and wanted in (None, c["connectionId"])]
    return _ok({"connections": found})


def _delete_connection(request: ApiRequest, plane: Any) -> ApiResponse:
    dx, wanted = plane.directconnect, str(request.params.get("connectionId"))
    with dx.lock:
        connection = dx.connections.get(wanted)
        if connection is None:
            raise _client_error(f"Connection {wanted} does not exist or is not owned by account {ACCOUNT}")
        live = [v for v in dx.vifs.values() if v["connectionId"] == wanted]
        if live:
            raise _client_error(f"Connection {wanted} has virtual interfaces {[v['virtualInterfaceId'] for v in live]}; "
                                "delete them first")
        del dx.connections[wanted]
    return _ok({**connection, "connectionState": "deleted"})


def _create_gateway(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    asn = int(p.get("amazonSideAsn", 64512))
    if not any(low <= asn <= high for low, high in GATEWAY_ASN_RANGES):
        raise _client_error(f"amazonSideAsn {asn} is not valid; use 64512-65534 or 4200000000-4294967294")
    gateway = {"directConnectGatewayId": str(uuid.uuid4()), "directConnectGatewayName": p.get("directConnectGatewayName"),
               "amazonSideAsn": asn, "ownerAccount": ACCOUNT, "directConnectGatewayState": "available", "tags": _tags(p)}
    with dx.lock:
        dx.gateways[gateway["directConnectGatewayId"]] = gateway
    return _ok({"directConnectGateway": gateway})


def _gateway(dx: DirectConnect, gateway_id: object) -> dict[str, Any]:
    found = dx.gateways.get(str(gateway_id))
    if found is None:
        raise _client_error(f"Direct Connect gateway {gateway_id} does not exist or is not owned by account {ACCOUNT}")
    return found


def _describe_gateways(request: ApiRequest, plane: Any) -> ApiResponse:
    dx, wanted = plane.directconnect, request.params.get("directConnectGatewayId")
    with dx.lock:
        found = [_gateway(dx, wanted)] if wanted else list(dx.gateways.values())
    return _ok({"directConnectGateways": found})


def _delete_gateway(request: ApiRequest, plane: Any) -> ApiResponse:
    dx, wanted = plane.directconnect, request.params.get("directConnectGatewayId")
    with dx.lock:
        gateway = _gateway(dx, wanted)
        if any(a["directConnectGatewayId"] == wanted for a in dx.associations.values()) or \
                any(v.get("directConnectGatewayId") == wanted for v in dx.vifs.values()):
            raise _client_error(f"Direct Connect gateway {wanted} has associations or virtual interfaces; remove them first")
        del dx.gateways[str(wanted)]
    return _ok({"directConnectGateway": {**gateway, "directConnectGatewayState": "deleted"}})


def _create_association(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    vgw = p.get("gatewayId") or p.get("virtualGatewayId")
    if not vgw:
        raise _client_error("gatewayId is required: the virtual private gateway to associate")
    if vgw not in backends.ec2(request.region).vpn_gateways:
        raise _client_error(f"Virtual private gateway {vgw} does not exist in {request.region}")
    with dx.lock:
        _gateway(dx, p.get("directConnectGatewayId"))
        association = {"directConnectGatewayId": p["directConnectGatewayId"], "directConnectGatewayOwnerAccount": ACCOUNT,
                       "associationState": "associated", "associationId": str(uuid.uuid4()),
                       "associatedGateway": {"id": vgw, "type": "virtualPrivateGateway", "ownerAccount": ACCOUNT,
                                             "region": request.region},
                       "allowedPrefixesToDirectConnectGateway": p.get("addAllowedPrefixesToDirectConnectGateway") or [],
                       "virtualGatewayId": vgw, "virtualGatewayRegion": request.region, "virtualGatewayOwnerAccount": ACCOUNT}
        dx.associations[association["associationId"]] = association
    return _ok({"directConnectGatewayAssociation": association})


def _describe_associations(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    with dx.lock:
        found = [a for a in dx.associations.values()
                 if p.get("directConnectGatewayId") in (None, a["directConnectGatewayId"])
                 and p.get("associationId") in (None, a["associationId"])
                 and (p.get("associatedGatewayId") or p.get("virtualGatewayId")) in (None, a["virtualGatewayId"])]
    return _ok({"directConnectGatewayAssociations": found})


def _create_private_vif(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    new = dict(p.get("newPrivateVirtualInterface") or {})
    connection_id = str(p.get("connectionId"))
    asn = new.get("asnLong", new.get("asn"))
    if not isinstance(asn, int) or isinstance(asn, bool) or not 1 <= asn <= (MAX_ASN if "asnLong" not in new else 4294967294):
        raise _client_error(f"asn {asn!r} is not a valid BGP ASN; the valid values are 1-{MAX_ASN} (asnLong for 4-byte ASNs)")
    vlan = new.get("vlan")
    if not isinstance(vlan, int) or not 1 <= vlan <= 4094:
        raise _client_error(f"vlan {vlan!r} is not valid; use 1-4094")
    with dx.lock:
        connection = dx.connections.get(connection_id)
        if connection is None or connection["region"] != request.region:
            raise _client_error(f"Connection {connection_id} does not exist or is not owned by account {ACCOUNT} "
                                f"in {request.region}")
        gateway_id, vgw = new.get("directConnectGatewayId"), new.get("virtualGatewayId")
        if bool(gateway_id) == bool(vgw):
            raise _client_error("Specify exactly one of directConnectGatewayId and virtualGatewayId")
        amazon_asn = _gateway(dx, gateway_id)["amazonSideAsn"] if gateway_id else 64512
        if any(v["connectionId"] == connection_id and v["vlan"] == vlan for v in dx.vifs.values()):
            raise _client_error(f"VLAN {vlan} is already in use on connection {connection_id}")
        family = new.get("addressFamily", "ipv4")
        peer = {"bgpPeerId": _id("dxpeer"), "asn": asn, "asnLong": asn, "authKey": new.get("authKey") or secrets.token_hex(12),
                "addressFamily": family, "amazonAddress": new.get("amazonAddress", "169.254.255.1/30"),
                "customerAddress": new.get("customerAddress", "169.254.255.2/30"), "bgpPeerState": "available",
                "bgpStatus": "up", "awsDeviceV2": connection["awsDeviceV2"]}
        vif = {"ownerAccount": ACCOUNT, "virtualInterfaceId": _id("dxvif"), "location": connection["location"],
               "connectionId": connection_id, "virtualInterfaceType": "private",
               "virtualInterfaceName": new.get("virtualInterfaceName"), "vlan": vlan, "asn": asn, "asnLong": asn,
               "amazonSideAsn": amazon_asn, "authKey": peer["authKey"], "amazonAddress": peer["amazonAddress"],
               "customerAddress": peer["customerAddress"], "addressFamily": family, "virtualInterfaceState": "available",
               "mtu": int(new.get("mtu", 1500)), "jumboFrameCapable": False, "virtualGatewayId": vgw or "",
               "directConnectGatewayId": gateway_id or "", "routeFilterPrefixes": [], "bgpPeers": [peer],
               "region": request.region, "awsDeviceV2": connection["awsDeviceV2"], "tags": _tags(new),
               "siteLinkEnabled": False}
        dx.vifs[vif["virtualInterfaceId"]] = vif
        return _ok(dx.shown_vif(vif, dx._links()))


def _describe_vifs(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    links = dx._links()
    with dx.lock:
        if p.get("virtualInterfaceId"):
            dx.vif(str(p["virtualInterfaceId"]))
        found = [dx.shown_vif(v, links) for v in dx.vifs.values() if v["region"] == request.region
                 and p.get("connectionId") in (None, v["connectionId"])
                 and p.get("virtualInterfaceId") in (None, v["virtualInterfaceId"])]
    return _ok({"virtualInterfaces": found})


def _delete_vif(request: ApiRequest, plane: Any) -> ApiResponse:
    dx, wanted = plane.directconnect, str(request.params.get("virtualInterfaceId"))
    with dx.lock:
        dx.vif(wanted)
        if any(t["virtualInterfaceId"] == wanted and t["status"] == "in-progress" for t in dx.tests.values()):
            dx.stop_test(wanted, "cancelled")
        del dx.vifs[wanted]
    return _ok({"virtualInterfaceState": "deleted"})


def _start_test(request: ApiRequest, plane: Any) -> ApiResponse:
    p = request.params
    minutes = p.get("testDurationInMinutes", TEST_MINUTES_DEFAULT)
    if not isinstance(minutes, int) or not 1 <= minutes <= TEST_MINUTES_MAX:
        raise _client_error(f"testDurationInMinutes {minutes!r} is not valid; use 1-{TEST_MINUTES_MAX}")
    test = plane.directconnect.start_test(str(p.get("virtualInterfaceId")), list(p.get("bgpPeers") or []), minutes)
    return _ok({"virtualInterfaceTest": test})


def _stop_test(request: ApiRequest, plane: Any) -> ApiResponse:
    return _ok({"virtualInterfaceTest": plane.directconnect.stop_test(str(request.params.get("virtualInterfaceId")))})


def _test_history(request: ApiRequest, plane: Any) -> ApiResponse:
    p, dx = request.params, plane.directconnect
    with dx.lock:
        found = [dict(t) for t in dx.tests.values() if p.get("virtualInterfaceId") in (None, t["virtualInterfaceId"])
                 and p.get("testId") in (None, t["testId"]) and p.get("status") in (None, t["status"])]
    return _ok({"virtualInterfaceTestHistory": found})


def _describe_tags(request: ApiRequest, plane: Any) -> ApiResponse:
    dx = plane.directconnect
    found = []
    with dx.lock:
        for arn in request.params.get("resourceArns") or []:
            resource_id = str(arn).rsplit("/", 1)[-1]
            item = dx.connections.get(resource_id) or dx.vifs.get(resource_id) or dx.gateways.get(resource_id)
            found.append({"resourceArn": arn, "tags": list(item.get("tags", [])) if item else []})
    return _ok({"resourceTags": found})


ANSWER: dict[str, Handler] = {
    "CreateConnection": _create_connection, "DescribeConnections": _describe_connections,
    "DeleteConnection": _delete_connection, "CreateDirectConnectGateway": _create_gateway,
    "DescribeDirectConnectGateways": _describe_gateways, "DeleteDirectConnectGateway": _delete_gateway,
    "CreateDirectConnectGatewayAssociation": _create_association,
    "DescribeDirectConnectGatewayAssociations": _describe_associations,
    "CreatePrivateVirtualInterface": _create_private_vif, "DescribeVirtualInterfaces": _describe_vifs,
    "DeleteVirtualInterface": _delete_vif, "StartBgpFailoverTest": _start_test, "StopBgpFailoverTest": _stop_test,
    "ListVirtualInterfaceTestHistory": _test_history, "DescribeTags": _describe_tags,
}
