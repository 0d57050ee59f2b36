"""AWS Global Accelerator's API, which moto does not emulate: the control plane stores and answers it.

Standard accelerators, listeners and endpoint groups, kept here in botocore's shapes (service
``globalaccelerator``, JSON protocol). What AWS checks and botocore does not is checked here and in
acceleratorchecks.py, each refusal AWS's exception naming the field, the value and what is allowed:

- the API lives in us-west-2 only (AWS: "you must specify the US West (Oregon) Region");
- TrafficDialPercentage 0..100, HealthCheckIntervalSeconds 10 or 30, ThresholdCount 1..10,
  endpoint Weight 0..255, at most 10 endpoints per group, HealthCheckPath's pattern;
- a listener's port ranges are ordered and overlap no other listener's of the accelerator
  (InvalidPortRangeException); a port override names one of the listener's ports; one endpoint group per
  Region per listener
  (EndpointGroupAlreadyExistsException); an endpoint group's Region is one of the environment's;
- an endpoint is an EC2 instance that exists in the group's Region ("a resource must be valid and
  active when you add it as an endpoint"), the only endpoint kind the local stack routes to;
- an accelerator is deleted only when disabled (AcceleratorNotDisabledException) and without
  listeners (AssociatedListenerFoundException); a listener only without endpoint groups
  (AssociatedEndpointGroupFoundException).

Each accelerator gets two static addresses (its ``IpSets``) from the environment's
``accelerator_cidr``: accelerator n (from 0) gets 127.X.n+1.1 and 127.X.n+1.2. The accelerator part
(stack.local.accelerator) listens on them. Endpoints' ``HealthState`` is that part's (service
``AcceleratorHealth``); without it, endpoints stay ``INITIAL``, as on AWS before the first checks.
"""
from __future__ import annotations

import ipaddress
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stack.local.awserror import AwsError
from stack.local.controlplane import acceleratorchecks as checks, backends
from stack.local.part import ApiRequest, ApiResponse
from stack.local.services import AcceleratorHealth

API_REGION = "us-west-2"
JSON = {"Content-Type": "application/x-amz-json-1.1"}


@dataclass
class _Accelerator:
    shape: dict[str, Any]
    tags: list[dict[str, str]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=lambda: {"FlowLogsEnabled": False})


@dataclass
class _Listener:
    accelerator: str
    shape: dict[str, Any]


@dataclass
class _Group:
    listener: str
    shape: dict[str, Any]  # EndpointDescriptions hold the stored configuration; health is added when shown


class Accelerators:
    """Every accelerator, listener and endpoint group of the stack, under one lock."""

    def __init__(self, cidr: str, regions: list[str]) -> None:
        self.network = ipaddress.IPv4Network(cidr)
        self.regions = regions
        self.accelerators: dict[str, _Accelerator] = {}
        self.listeners: dict[str, _Listener] = {}
        self.groups: dict[str, _Group] = {}
        self.tokens: dict[tuple[str, str], str] = {}  # (operation, IdempotencyToken) -> ARN
        self.lock = threading.RLock()
        self.health: Callable[[], AcceleratorHealth | None] = lambda: None

    def addresses(self) -> list[str]:
        """Two static addresses for a new accelerator: the lowest free /24 of the range."""
        taken = {a for acc in self.accelerators.values() for s in acc.shape["IpSets"] for a in s["IpAddresses"]}
        for index in range(1, 255):
            pair = [str(self.network.network_address + (index << 8) + host) for host in (1, 2)]
            if pair[0] not in taken and ipaddress.IPv4Address(pair[1]) in self.network:
                return pair
        raise AwsError("LimitExceededException", f"no static addresses left in accelerator_cidr {self.network}")


def _get(table: Mapping[str, Any], arn: str, code: str, what: str) -> Any:
    found = table.get(arn)
    if found is None:
        raise AwsError(code, f"{what} {arn!r} not found")
    return found


def _ok(payload: Mapping[str, Any]) -> ApiResponse:
    return ApiResponse(200, json.dumps(payload, default=str).encode(), JSON)


def _store(plane: Any, request: ApiRequest) -> Accelerators:
    if request.region != API_REGION:
        raise checks.invalid(f"Global Accelerator's API is served in {API_REGION} only, not {request.region}: "
                       f"create the client with region_name={API_REGION!r}")
    store: Accelerators = plane.accelerators
    return store


def _idempotent(store: Accelerators, request: ApiRequest, table: Mapping[str, Any]) -> Any:
    token = request.params.get("IdempotencyToken")
    arn = store.tokens.get((request.operation, str(token))) if token else None
    return table.get(arn) if arn else None


def _create_accelerator(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        earlier = _idempotent(store, request, store.accelerators)
        if earlier is None:
            if params.get("IpAddressType", "IPV4") != "IPV4":
                raise checks.invalid(f"IpAddressType: {params['IpAddressType']!r} is not allowed here; the local stack "
                               f"has IPv4 static addresses only (IPV4)")
            if params.get("IpAddresses"):
                raise checks.invalid("IpAddresses: bring-your-own addresses are not available on the local stack; "
                               "leave IpAddresses out to get two static addresses")
            arn = f"arn:aws:globalaccelerator::{backends.ACCOUNT_ID}:accelerator/{uuid.uuid4()}"
            now = time.time()
            shape = {"AcceleratorArn": arn, "Name": params["Name"], "IpAddressType": "IPV4",
                     "Enabled": params.get("Enabled", True),
                     "IpSets": [{"IpFamily": "IPv4", "IpAddressFamily": "IPv4", "IpAddresses": store.addresses()}],
                     "DnsName": f"a{uuid.uuid4().hex[:16]}.awsglobalaccelerator.com", "Status": "DEPLOYED",
                     "CreatedTime": now, "LastModifiedTime": now}
            earlier = store.accelerators[arn] = _Accelerator(shape, list(params.get("Tags") or []))
            store.tokens[(request.operation, str(params["IdempotencyToken"]))] = arn
        return _ok({"Accelerator": earlier.shape})


def _update_accelerator(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        found = _get(store.accelerators, params["AcceleratorArn"], "AcceleratorNotFoundException", "Accelerator")
        if params.get("IpAddressType", "IPV4") != "IPV4":
            raise checks.invalid(f"IpAddressType: {params['IpAddressType']!r} is not allowed here; allowed: IPV4")
        for key in ("Name", "Enabled"):
            if key in params:
                found.shape[key] = params[key]
        found.shape["LastModifiedTime"] = time.time()
        return _ok({"Accelerator": found.shape})


def _delete_accelerator(request: ApiRequest, plane: Any) -> ApiResponse:
    store, arn = _store(plane, request), request.params["AcceleratorArn"]
    with store.lock:
        found = _get(store.accelerators, arn, "AcceleratorNotFoundException", "Accelerator")
        if found.shape["Enabled"]:
            raise AwsError("AcceleratorNotDisabledException", f"Accelerator {arn} is enabled: disable it "
                                                              f"(UpdateAccelerator Enabled=false) before deleting it")
        if any(listener.accelerator == arn for listener in store.listeners.values()):
            raise AwsError("AssociatedListenerFoundException", f"Accelerator {arn} has listeners: delete them first")
        del store.accelerators[arn]
        return _ok({})


def _describe_accelerator(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        found = _get(store.accelerators, request.params["AcceleratorArn"], "AcceleratorNotFoundException", "Accelerator")
        return _ok({"Accelerator": found.shape})


def _page(request: ApiRequest, items: list[Any], key: str) -> ApiResponse:
    checks.bounded(request.params, "MaxResults", 1, 100)
    size = int(request.params.get("MaxResults") or 100)
    token = request.params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise AwsError("InvalidNextTokenException", f"NextToken: {token!r} is not a token this API returned") from None
    payload: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        payload["NextToken"] = str(start + size)
    return _ok(payload)


def _list_accelerators(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        return _page(request, [a.shape for a in store.accelerators.values()], "Accelerators")


def _create_listener(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        earlier = _idempotent(store, request, store.listeners)
        if earlier is None:
            accelerator = params["AcceleratorArn"]
            _get(store.accelerators, accelerator, "AcceleratorNotFoundException", "Accelerator")
            shape = _listener_shape(store, accelerator, params, f"{accelerator}/listener/{uuid.uuid4().hex[:8]}")
            earlier = store.listeners[shape["ListenerArn"]] = _Listener(accelerator, shape)
            store.tokens[(request.operation, str(params["IdempotencyToken"]))] = shape["ListenerArn"]
        return _ok({"Listener": earlier.shape})


def _listener_shape(store: Accelerators, accelerator: str, params: Mapping[str, Any], arn: str) -> dict[str, Any]:
    ranges = checks.port_ranges(list(params.get("PortRanges") or []))
    if params.get("Protocol", "TCP") != "TCP":
        raise checks.invalid(f"Protocol: {params['Protocol']!r} is not allowed here; the local stack routes TCP listeners")
    for other_arn, other in store.listeners.items():
        if other.accelerator != accelerator or other_arn == arn:
            continue
        for low, high in ranges:
            for item in other.shape["PortRanges"]:
                if low <= item["ToPort"] and item["FromPort"] <= high:
                    raise AwsError("InvalidPortRangeException", f"PortRanges: {low}-{high} overlaps "
                                                                f"{item['FromPort']}-{item['ToPort']} of listener {other_arn}")
    affinity = params.get("ClientAffinity", "NONE")
    return {"ListenerArn": arn, "PortRanges": [{"FromPort": low, "ToPort": high} for low, high in ranges],
            "Protocol": "TCP", "ClientAffinity": affinity}


def _update_listener(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        found = _get(store.listeners, params["ListenerArn"], "ListenerNotFoundException", "Listener")
        merged = {**found.shape, **{k: v for k, v in params.items() if k != "ListenerArn"}}
        found.shape = _listener_shape(store, found.accelerator, merged, found.shape["ListenerArn"])
        return _ok({"Listener": found.shape})


def _delete_listener(request: ApiRequest, plane: Any) -> ApiResponse:
    store, arn = _store(plane, request), request.params["ListenerArn"]
    with store.lock:
        _get(store.listeners, arn, "ListenerNotFoundException", "Listener")
        if any(group.listener == arn for group in store.groups.values()):
            raise AwsError("AssociatedEndpointGroupFoundException", f"Listener {arn} has endpoint groups: delete them first")
        del store.listeners[arn]
        return _ok({})


def _describe_listener(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        return _ok({"Listener": _get(store.listeners, request.params["ListenerArn"], "ListenerNotFoundException",
                                     "Listener").shape})


def _list_listeners(request: ApiRequest, plane: Any) -> ApiResponse:
    store, arn = _store(plane, request), request.params["AcceleratorArn"]
    with store.lock:
        _get(store.accelerators, arn, "AcceleratorNotFoundException", "Accelerator")
        return _page(request, [li.shape for li in store.listeners.values() if li.accelerator == arn], "Listeners")


def _create_endpoint_group(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        earlier = _idempotent(store, request, store.groups)
        if earlier is None:
            listener, region = params["ListenerArn"], params["EndpointGroupRegion"]
            _get(store.listeners, listener, "ListenerNotFoundException", "Listener")
            if region not in store.regions:
                raise checks.invalid(f"EndpointGroupRegion: {region!r} is not a Region of this stack; "
                               f"allowed: {', '.join(store.regions)}")
            if any(g.listener == listener and g.shape["EndpointGroupRegion"] == region for g in store.groups.values()):
                raise AwsError("EndpointGroupAlreadyExistsException",
                               f"Listener {listener} already has an endpoint group in {region}")
            checks.check_group_settings(params)
            checks.check_overrides(listener, store.listeners[listener].shape["PortRanges"], list(params.get("PortOverrides") or []))
            arn = f"{listener}/endpoint-group/{uuid.uuid4().hex[:12]}"
            shape = {"EndpointGroupArn": arn, "EndpointGroupRegion": region,
                     "EndpointDescriptions": checks.endpoints(region, list(params.get("EndpointConfigurations") or [])),
                     "TrafficDialPercentage": float(params.get("TrafficDialPercentage", 100.0)),
                     "HealthCheckPort": params.get("HealthCheckPort"),
                     "HealthCheckProtocol": params.get("HealthCheckProtocol", "TCP"),
                     "HealthCheckPath": params.get("HealthCheckPath", "/"),
                     "HealthCheckIntervalSeconds": params.get("HealthCheckIntervalSeconds", 30),
                     "ThresholdCount": params.get("ThresholdCount", 3),
                     "PortOverrides": list(params.get("PortOverrides") or [])}
            if shape["HealthCheckPort"] is None:  # AWS: the listener's (first) port
                shape["HealthCheckPort"] = store.listeners[listener].shape["PortRanges"][0]["FromPort"]
            earlier = store.groups[arn] = _Group(listener, shape)
            store.tokens[(request.operation, str(params["IdempotencyToken"]))] = arn
        return _ok({"EndpointGroup": _shown(store, earlier)})


def _update_endpoint_group(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        found = _get(store.groups, params["EndpointGroupArn"], "EndpointGroupNotFoundException", "Endpoint group")
        checks.check_group_settings(params)
        checks.check_overrides(found.listener, store.listeners[found.listener].shape["PortRanges"], list(params.get("PortOverrides") or []))
        if "EndpointConfigurations" in params:
            found.shape["EndpointDescriptions"] = checks.endpoints(found.shape["EndpointGroupRegion"],
                                                             list(params["EndpointConfigurations"]))
        for key in ("TrafficDialPercentage", "HealthCheckPort", "HealthCheckProtocol", "HealthCheckPath",
                    "HealthCheckIntervalSeconds", "ThresholdCount", "PortOverrides"):
            if key in params:
                found.shape[key] = float(params[key]) if key == "TrafficDialPercentage" else params[key]
        return _ok({"EndpointGroup": _shown(store, found)})


def _add_endpoints(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        found = _get(store.groups, params["EndpointGroupArn"], "EndpointGroupNotFoundException", "Endpoint group")
        added = checks.endpoints(found.shape["EndpointGroupRegion"], list(params["EndpointConfigurations"]))
        new = {e["EndpointId"] for e in added}
        kept = [e for e in found.shape["EndpointDescriptions"] if e["EndpointId"] not in new]  # a known id is updated
        if len(kept) + len(added) > checks.MAX_ENDPOINTS:
            raise AwsError("LimitExceededException", f"EndpointConfigurations: the group would hold {len(kept) + len(added)} "
                                                     f"endpoints; an endpoint group holds at most {checks.MAX_ENDPOINTS}")
        found.shape["EndpointDescriptions"] = kept + added
        described = _shown(store, found)["EndpointDescriptions"]
        return _ok({"EndpointGroupArn": found.shape["EndpointGroupArn"],
                    "EndpointDescriptions": [e for e in described if e["EndpointId"] in new]})


def _remove_endpoints(request: ApiRequest, plane: Any) -> ApiResponse:
    store, params = _store(plane, request), request.params
    with store.lock:
        found = _get(store.groups, params["EndpointGroupArn"], "EndpointGroupNotFoundException", "Endpoint group")
        gone = [str(e.get("EndpointId")) for e in params["EndpointIdentifiers"]]
        held = {e["EndpointId"] for e in found.shape["EndpointDescriptions"]}
        unknown = [e for e in gone if e not in held]
        if unknown:
            raise checks.invalid(f"EndpointIdentifiers: {', '.join(unknown)} not in endpoint group {found.shape['EndpointGroupArn']}; "
                           f"it holds: {', '.join(sorted(held)) or 'no endpoint'}")
        found.shape["EndpointDescriptions"] = [e for e in found.shape["EndpointDescriptions"] if e["EndpointId"] not in gone]
        return _ok({})


def _delete_endpoint_group(request: ApiRequest, plane: Any) -> ApiResponse:
    store, arn = _store(plane, request), request.params["EndpointGroupArn"]
    with store.lock:
        _get(store.groups, arn, "EndpointGroupNotFoundException", "Endpoint group")
        del store.groups[arn]
        return _ok({})


def _shown(store: Accelerators, group: _Group) -> dict[str, Any]:
    """The group with each endpoint's live health (the accelerator part's checks), INITIAL before any."""
    health = store.health()
    arn = group.shape["EndpointGroupArn"]
    described = []
    for endpoint in group.shape["EndpointDescriptions"]:
        state = health.health_of(arn, endpoint["EndpointId"]) if health is not None else None
        described.append({**endpoint, "HealthState": state[0] if state else "INITIAL",
                          **({"HealthReason": state[1]} if state and state[1] else {})})
    return {**group.shape, "EndpointDescriptions": described}


def _describe_endpoint_group(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        found = _get(store.groups, request.params["EndpointGroupArn"], "EndpointGroupNotFoundException", "Endpoint group")
        return _ok({"EndpointGroup": _shown(store, found)})


def _list_endpoint_groups(request: ApiRequest, plane: Any) -> ApiResponse:
    store, arn = _store(plane, request), request.params["ListenerArn"]
    with store.lock:
        _get(store.listeners, arn, "ListenerNotFoundException", "Listener")
        return _page(request, [_shown(store, g) for g in store.groups.values() if g.listener == arn], "EndpointGroups")


def _tagged(store: Accelerators, arn: str) -> _Accelerator:
    found: _Accelerator = _get(store.accelerators, arn, "AcceleratorNotFoundException", "Accelerator")
    return found


def _tag_resource(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        found = _tagged(store, request.params["ResourceArn"])
        new = {t["Key"]: t["Value"] for t in request.params.get("Tags") or []}
        found.tags = [t for t in found.tags if t["Key"] not in new] + [{"Key": k, "Value": v} for k, v in new.items()]
        return _ok({})


def _untag_resource(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        found = _tagged(store, request.params["ResourceArn"])
        gone = set(request.params.get("TagKeys") or [])
        found.tags = [t for t in found.tags if t["Key"] not in gone]
        return _ok({})


def _list_tags(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        return _ok({"Tags": _tagged(store, request.params["ResourceArn"]).tags})


def _describe_attributes(request: ApiRequest, plane: Any) -> ApiResponse:
    store = _store(plane, request)
    with store.lock:
        return _ok({"AcceleratorAttributes": _tagged(store, request.params["AcceleratorArn"]).attributes})


def _unsupported(request: ApiRequest, plane: Any) -> ApiResponse:
    raise AwsError("InvalidAction", f"{request.operation} is not available on the local stack's Global Accelerator "
                                    f"(standard accelerators: accelerators, listeners, endpoint groups, tags)")


ANSWER: dict[str, Callable[[ApiRequest, Any], ApiResponse]] = {
    "CreateAccelerator": _create_accelerator, "UpdateAccelerator": _update_accelerator,
    "DeleteAccelerator": _delete_accelerator, "DescribeAccelerator": _describe_accelerator,
    "ListAccelerators": _list_accelerators, "DescribeAcceleratorAttributes": _describe_attributes,
    "CreateListener": _create_listener, "UpdateListener": _update_listener, "DeleteListener": _delete_listener,
    "DescribeListener": _describe_listener, "ListListeners": _list_listeners,
    "CreateEndpointGroup": _create_endpoint_group, "UpdateEndpointGroup": _update_endpoint_group,
    "DeleteEndpointGroup": _delete_endpoint_group, "DescribeEndpointGroup": _describe_endpoint_group,
    "ListEndpointGroups": _list_endpoint_groups, "AddEndpoints": _add_endpoints, "RemoveEndpoints": _remove_endpoints,
    "TagResource": _tag_resource, "UntagResource": _untag_resource, "ListTagsForResource": _list_tags,
}
SERVICE = "globalaccelerator"


def answer(request: ApiRequest, plane: Any) -> ApiResponse:
    """Every Global Accelerator call: its handler, or InvalidAction for what the local stack lacks."""
    return ANSWER.get(request.operation, _unsupported)(request, plane)
