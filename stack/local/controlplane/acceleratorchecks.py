"""Global Accelerator's argument checks that botocore does not make (stack.local.controlplane.globalaccelerator).

Each refusal is AWS's exception naming the field, the value and what is allowed; the ranges are
botocore's model's (``globalaccelerator/2018-08-08``) and the documented ones (docs/aws-semantics.md).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stack.local.awserror import AwsError
from stack.local.controlplane import backends

MAX_ENDPOINTS = 10
_PATH = re.compile(r"^/[-a-zA-Z0-9@:%_\\+.~#?&/=]*$")  # botocore's HealthCheckPath pattern
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


def invalid(message: str) -> AwsError:
    return AwsError("InvalidArgumentException", message)


def bounded(params: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = params.get(name)
    if value is not None and not low <= value <= high:
        raise invalid(f"{name}: {value!r} is not allowed; allowed: {low:g} to {high:g}")


def port_ranges(ranges: list[Mapping[str, Any]]) -> list[tuple[int, int]]:
    if not ranges:
        raise invalid("PortRanges: give at least one port range")
    found = []
    for index, item in enumerate(ranges):
        low, high = item.get("FromPort"), item.get("ToPort")
        if not isinstance(low, int) or not isinstance(high, int) or not 1 <= low <= high <= 65535:
            raise AwsError("InvalidPortRangeException", f"PortRanges[{index}]: {low!r}-{high!r} is not allowed; "
                                                        f"FromPort and ToPort are 1 to 65535 with FromPort <= ToPort")
        found.append((low, high))
    return found


def check_group_settings(params: Mapping[str, Any]) -> None:
    bounded(params, "TrafficDialPercentage", 0, 100)
    bounded(params, "ThresholdCount", 1, 10)
    bounded(params, "HealthCheckPort", 1, 65535)
    interval = params.get("HealthCheckIntervalSeconds")
    if interval is not None and interval not in (10, 30):
        raise invalid(f"HealthCheckIntervalSeconds: {interval!r} is not allowed; allowed: 10, 30")
    path = params.get("HealthCheckPath")
    if path is not None and (len(path) > 255 or not _PATH.match(path)):
        raise invalid(f"HealthCheckPath: {path!r} is not allowed; it starts with / (pattern {_PATH.pattern})")


def endpoints(region: str, configurations: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(configurations) > MAX_ENDPOINTS:
        raise AwsError("LimitExceededException", f"EndpointConfigurations: {len(configurations)} endpoints; "
                                                 f"an endpoint group holds at most {MAX_ENDPOINTS}")
    found: list[dict[str, Any]] = []
    for index, item in enumerate(configurations):
        endpoint, weight = str(item.get("EndpointId") or ""), item.get("Weight", 128)
        if not 0 <= weight <= 255:
            raise invalid(f"EndpointConfigurations[{index}].Weight: {weight!r} is not allowed; allowed: 0 to 255")
        if not _INSTANCE_ID.match(endpoint):
            raise invalid(f"EndpointConfigurations[{index}].EndpointId: {endpoint!r} is not an EC2 instance id; "
                           f"the local stack routes to EC2 instance endpoints (i-...)")
        instance = _instance(region, endpoint)
        if instance is None or instance.state in ("shutting-down", "terminated"):
            raise invalid(f"EndpointConfigurations[{index}].EndpointId: {endpoint} is not an instance in "
                           f"{region}; a resource must be valid and active when you add it as an endpoint")
        if any(e["EndpointId"] == endpoint for e in found):
            raise invalid(f"EndpointConfigurations: {endpoint} is given twice")
        # AWS: "EC2 instances always have client IP address preservation enabled. You can't disable the option."
        found.append({"EndpointId": endpoint, "Weight": weight, "ClientIPPreservationEnabled": True})
    return found


def _instance(region: str, instance_id: str) -> Any:
    """moto's instance ``instance_id`` in ``region``, or None."""
    for reservation in backends.ec2(region).reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


def check_overrides(listener: str, ranges: list[Mapping[str, Any]], overrides: list[Mapping[str, Any]]) -> None:
    """A port override maps one of the listener's ports (AWS refuses any other)."""
    for index, item in enumerate(overrides):
        port = item.get("ListenerPort")
        if not any(r["FromPort"] <= (port or 0) <= r["ToPort"] for r in ranges):
            raise invalid(f"PortOverrides[{index}].ListenerPort: {port!r} is not a port of listener {listener}; "
                           f"its ports: {', '.join(str(r['FromPort']) + '-' + str(r['ToPort']) for r in ranges)}")
