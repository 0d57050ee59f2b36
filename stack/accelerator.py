"""SecureCart's Global Accelerator: two static addresses in front of checkout in every Region.

``ensure`` builds it idempotently (found again by its name and the ``gameday:stack`` tag): one
standard accelerator, one TCP listener on checkout's port, one endpoint group per Region holding
that Region's checkout instances, health-checked as the Route 53 checks are (HTTP ``/health``, the
stack's interval and failure threshold), every dial at 100 so each client goes to its nearest
healthy Region. A rebuild brings the endpoints and settings back to that shape (a dial left at 0 by
an experiment is set back to 100). Global Accelerator's API lives in us-west-2, whatever the Regions.

``find`` lists the accelerators one build created (its ``gameday:stack`` and ``gameday:run`` tags), and
``remove`` deletes them in AWS's order: disable, endpoint groups, listeners, accelerator.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from base import runid
from base.clients import ClientFactory
from stack.handles import InstanceHandle

API_REGION = "us-west-2"
STACK_TAG = "gameday:stack"


def _tagged(ga: Any, stack_name: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The stack's accelerators (its name and its gameday:stack tag), each with its tags."""
    found = []
    for page in ga.get_paginator("list_accelerators").paginate():
        for accelerator in page["Accelerators"]:
            if accelerator["Name"] != stack_name:
                continue
            tags = {t["Key"]: t["Value"] for t in ga.list_tags_for_resource(ResourceArn=accelerator["AcceleratorArn"])["Tags"]}
            if tags.get(STACK_TAG) == stack_name:
                found.append((accelerator, tags))
    return found


def _mine(ga: Any, stack_name: str) -> dict[str, Any] | None:
    found = _tagged(ga, stack_name)
    return found[0][0] if found else None


def ensure(clients: ClientFactory, stack_name: str, port: int, interval_s: int, threshold: int,
           instances: Sequence[InstanceHandle], tags: list[dict[str, str]]) -> dict[str, str]:
    """The accelerator in front of ``instances``; what the stack's handles keep of it (``ReferenceStack.extra``)."""
    ga = clients("globalaccelerator", API_REGION)
    accelerator = _mine(ga, stack_name)
    if accelerator is None:
        accelerator = ga.create_accelerator(Name=stack_name, IpAddressType="IPV4", Enabled=True,
                                            IdempotencyToken=f"{stack_name}-accelerator", Tags=tags)["Accelerator"]
    elif not accelerator["Enabled"]:
        accelerator = ga.update_accelerator(AcceleratorArn=accelerator["AcceleratorArn"], Enabled=True)["Accelerator"]
    arn = accelerator["AcceleratorArn"]
    listeners = ga.list_listeners(AcceleratorArn=arn)["Listeners"]
    listener = next((li for li in listeners if li["PortRanges"] == [{"FromPort": port, "ToPort": port}]), None)
    if listener is None:
        listener = ga.create_listener(AcceleratorArn=arn, Protocol="TCP", PortRanges=[{"FromPort": port, "ToPort": port}],
                                      ClientAffinity="NONE", IdempotencyToken=f"{arn}-listener-{port}")["Listener"]
    groups = {g["EndpointGroupRegion"]: g for g in ga.list_endpoint_groups(ListenerArn=listener["ListenerArn"])["EndpointGroups"]}
    settings = {"TrafficDialPercentage": 100.0, "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/health",
                "HealthCheckPort": port, "HealthCheckIntervalSeconds": interval_s, "ThresholdCount": threshold}
    for region in sorted({i.region for i in instances}):
        endpoints = [{"EndpointId": i.instance_id, "Weight": 128, "ClientIPPreservationEnabled": True}
                     for i in instances if i.region == region]
        if region in groups:
            ga.update_endpoint_group(EndpointGroupArn=groups[region]["EndpointGroupArn"],
                                     EndpointConfigurations=endpoints, **settings)
        else:
            ga.create_endpoint_group(ListenerArn=listener["ListenerArn"], EndpointGroupRegion=region,
                                     EndpointConfigurations=endpoints, IdempotencyToken=f"{listener['ListenerArn']}-{region}",
                                     **settings)
    return _handles(accelerator, listener)


def _handles(accelerator: dict[str, Any], listener: dict[str, Any]) -> dict[str, str]:
    addresses = [a for s in accelerator["IpSets"] for a in s["IpAddresses"]]
    return {"accelerator_arn": accelerator["AcceleratorArn"], "accelerator_addresses": ",".join(addresses),
            "accelerator_dns_name": accelerator["DnsName"], "accelerator_listener_arn": listener["ListenerArn"]}


def existing(clients: ClientFactory, stack_name: str, port: int) -> dict[str, str]:
    """What ``ensure`` returns, for an accelerator built earlier (reads only); {} when there is none."""
    ga = clients("globalaccelerator", API_REGION)
    accelerator = _mine(ga, stack_name)
    if accelerator is None or not accelerator["Enabled"]:
        return {}
    listeners = ga.list_listeners(AcceleratorArn=accelerator["AcceleratorArn"])["Listeners"]
    listener = next((li for li in listeners if li["PortRanges"] == [{"FromPort": port, "ToPort": port}]), None)
    return _handles(accelerator, listener) if listener is not None else {}


def endpoint_groups(clients: ClientFactory, listener_arn: str) -> dict[str, dict[str, Any]]:
    """The listener's endpoint groups by Region, as DescribeEndpointGroup shows them (health included)."""
    ga = clients("globalaccelerator", API_REGION)
    return {g["EndpointGroupRegion"]: g for g in ga.list_endpoint_groups(ListenerArn=listener_arn)["EndpointGroups"]}


def find(clients: ClientFactory, stack_name: str, run_id: str) -> list[str]:
    """The ARNs of the accelerators the build ``run_id`` of ``stack_name`` created (reads only)."""
    ga = clients("globalaccelerator", API_REGION)
    return [a["AcceleratorArn"] for a, tags in _tagged(ga, stack_name) if tags.get(runid.TAG) == run_id]


def remove(clients: ClientFactory, arns: Sequence[str]) -> list[str]:
    """Delete these accelerators (disable, endpoint groups, listeners, accelerator); one line per deletion."""
    ga = clients("globalaccelerator", API_REGION)
    done = []
    for arn in arns:
        ga.update_accelerator(AcceleratorArn=arn, Enabled=False)
        for listener in ga.list_listeners(AcceleratorArn=arn)["Listeners"]:
            for group in ga.list_endpoint_groups(ListenerArn=listener["ListenerArn"])["EndpointGroups"]:
                ga.delete_endpoint_group(EndpointGroupArn=group["EndpointGroupArn"])
            ga.delete_listener(ListenerArn=listener["ListenerArn"])
        ga.delete_accelerator(AcceleratorArn=arn)
        done.append(f"deleted accelerator {arn} (global, API in {API_REGION})")
    return done
