"""The accelerators' configuration, read through the local endpoint's API like any user reads it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stack.local.accelerator.routing import Endpoint, Group, HealthSettings, Listener

API_REGION = "us-west-2"  # Global Accelerator's API lives there
MAX_PORTS = 64  # listening sockets per listener; a wider port range is reported, not bound


def _pages(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        found += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return found


def _addresses(client: Callable[[str, str], Any], region: str, ids: list[str]) -> dict[str, str]:
    """instance id -> private address, for the instances that run (a stopped one has no endpoint to reach)."""
    if not ids:
        return {}
    ec2 = client("ec2", region)
    found = {}
    # A filter, not InstanceIds: an id EC2 no longer knows is simply absent (no endpoint), not an error.
    for reservation in ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": ids}])["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] == "running" and instance.get("PrivateIpAddress"):
                found[instance["InstanceId"]] = instance["PrivateIpAddress"]
    return found


def _group(client: Callable[[str, str], Any], shape: dict[str, Any]) -> Group:
    region = shape["EndpointGroupRegion"]
    described = shape.get("EndpointDescriptions") or []
    addresses = _addresses(client, region, [e["EndpointId"] for e in described])
    endpoints = tuple(Endpoint(e["EndpointId"], addresses.get(e["EndpointId"], ""), int(e.get("Weight", 128)))
                      for e in described)
    health = HealthSettings(shape.get("HealthCheckProtocol", "TCP"), int(shape["HealthCheckPort"]),
                            shape.get("HealthCheckPath") or "/", float(shape.get("HealthCheckIntervalSeconds", 30)),
                            int(shape.get("ThresholdCount", 3)))
    overrides = tuple((int(o["ListenerPort"]), int(o["EndpointPort"])) for o in shape.get("PortOverrides") or [])
    return Group(shape["EndpointGroupArn"], region, float(shape.get("TrafficDialPercentage", 100.0)), endpoints,
                 health, overrides)


def read(client: Callable[[str, str], Any]) -> tuple[dict[tuple[str, int], Listener], list[str]]:
    """Every enabled accelerator's listening (address, port) -> its listener; and what cannot be served."""
    ga = client("globalaccelerator", API_REGION)
    bound: dict[tuple[str, int], Listener] = {}
    problems: list[str] = []
    for accelerator in _pages(ga.list_accelerators, "Accelerators"):
        if not accelerator.get("Enabled"):
            continue  # a disabled accelerator's addresses take no traffic
        addresses = tuple(a for s in accelerator.get("IpSets") or [] for a in s.get("IpAddresses") or [])
        arn = accelerator["AcceleratorArn"]
        for shape in _pages(ga.list_listeners, "Listeners", AcceleratorArn=arn):
            groups = tuple(_group(client, g) for g in _pages(ga.list_endpoint_groups, "EndpointGroups",
                                                             ListenerArn=shape["ListenerArn"]))
            ports = tuple(p for r in shape["PortRanges"] for p in range(r["FromPort"], r["ToPort"] + 1))
            if len(ports) > MAX_PORTS:
                problems.append(f"listener {shape['ListenerArn']}: {len(ports)} ports; the local stack listens on "
                                f"at most {MAX_PORTS} per listener (the first {MAX_PORTS} are served)")
                ports = ports[:MAX_PORTS]
            listener = Listener(shape["ListenerArn"], arn, addresses, ports, shape.get("ClientAffinity", "NONE"), groups)
            for address in addresses:
                for port in ports:
                    bound[(address, port)] = listener
    return bound, problems
