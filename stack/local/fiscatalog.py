"""The FIS actions and target resource types the local stack runs, as AWS's actions reference names them.

Shared by the control plane (which validates templates against it and answers ListActions, GetAction,
ListTargetResourceTypes and GetTargetResourceType from it) and the FIS part (which runs the actions):
neither imports the other. Durations are ISO 8601 (``PT1M``) in AWS seconds; the engine scales them.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

MINUTE_S = 60.0
TWELVE_HOURS_S = 12 * 3600.0
_DURATION = re.compile(r"^PT(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


def duration_s(value: str) -> float:
    """``PT1H2M3S`` in seconds. Raises ValueError naming the value and the form allowed."""
    found = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"{value!r} is not an ISO 8601 duration; write it as PT<hours>H<minutes>M<seconds>S, e.g. PT5M")
    hours, minutes, seconds = found.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    required: bool = False
    # A duration's allowed range in AWS seconds (None: not a duration); values: the allowed values.
    duration_range_s: tuple[float, float] | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionType:
    id: str
    description: str
    parameters: tuple[Parameter, ...] = ()
    targets: dict[str, str] = field(default_factory=dict)  # the action's target key -> resource type
    emulated: bool = True  # False: accepted in a template, refused at StartExperiment with why

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


def _duration(description: str, low_s: float = MINUTE_S, high_s: float = TWELVE_HOURS_S,
              required: bool = True, name: str = "duration") -> Parameter:
    return Parameter(name, description, required, (low_s, high_s))


SCOPES = ("all", "availability-zone", "dynamodb", "prefix-list", "s3", "s3-express")
NETWORK_DOCUMENTS = ("AWSFIS-Run-Network-Latency", "AWSFIS-Run-Network-Packet-Loss", "AWSFIS-Run-Network-Blackhole-Port")
CPU_DOCUMENT = "AWSFIS-Run-CPU-Stress"

ACTIONS: dict[str, ActionType] = {a.id: a for a in (
    ActionType("aws:fis:wait", "Run the AWS FIS wait action.",
               (_duration("The duration, from one minute to 12 hours."),)),
    ActionType("aws:ec2:stop-instances", "Stop the specified EC2 instances.",
               (_duration("The time to wait before restarting the instances (one minute to 12 hours); "
                          "without it the instances stay stopped.", required=False, name="startInstancesAfterDuration"),
                Parameter("completeIfInstancesTerminated", "Whether the action completes when the instances terminate.")),
               {"Instances": "aws:ec2:instance"}),
    ActionType("aws:ec2:terminate-instances", "Terminate the specified EC2 instances.", (),
               {"Instances": "aws:ec2:instance"}),
    ActionType("aws:rds:reboot-db-instances", "Reboot the specified DB instances.",
               (Parameter("forceFailover", "Whether to force a failover to the standby of a Multi-AZ DB instance.",
                          values=("true", "false")),),
               {"DBInstances": "aws:rds:db"}),
    ActionType("aws:network:disrupt-connectivity", "Deny traffic to or from the target subnets.",
               (_duration("The duration, from one minute to 12 hours."),
                Parameter("scope", "The traffic to deny (default all).", values=SCOPES),
                Parameter("prefixListIdentifier", "The prefix list to deny, when scope is prefix-list.")),
               {"Subnets": "aws:ec2:subnet"}),
    ActionType("aws:network:route-table-disrupt-cross-region-connectivity",
               "Block traffic from the target subnets to the given Region.",
               (_duration("The duration, from one minute to 12 hours."),
                Parameter("region", "The Region whose traffic is blocked.", required=True),
                Parameter("preserveTransitGateways", "Whether to keep transit gateway routes.", values=("true", "false"))),
               {"Subnets": "aws:ec2:subnet"}),
    ActionType("aws:dynamodb:global-table-pause-replication",
               "Pause replication to the target global table replicas.",
               (_duration("The duration, from one minute to 12 hours."),),
               {"Tables": "aws:dynamodb:global-table"}),
    ActionType("aws:directconnect:virtual-interface-disconnect",
               "Disconnect the BGP sessions of the target Direct Connect virtual interfaces.",
               (_duration("The duration, from 10 minutes to 12 hours.", low_s=10 * MINUTE_S),),
               {"DXVirtualInterfaces": "aws:directconnect:virtual-interface"}),
    ActionType("aws:ssm:send-command", "Run an SSM document on the target EC2 instances.",
               (Parameter("documentArn", "The ARN of the document to run.", required=True),
                Parameter("documentVersion", "The version of the document."),
                Parameter("documentParameters", "The document's parameters, as a JSON object."),
                _duration("The duration, from one minute to 12 hours.")),
               {"Instances": "aws:ec2:instance"}),
)}


@dataclass(frozen=True)
class ResourceType:
    id: str
    description: str
    filters: tuple[str, ...]  # the attribute paths a target's filters may name (as the resource's API shows them)


RESOURCE_TYPES: dict[str, ResourceType] = {r.id: r for r in (
    ResourceType("aws:ec2:instance", "An EC2 instance.",
                 ("Placement.AvailabilityZone", "State.Name", "SubnetId", "VpcId", "InstanceType", "ImageId")),
    ResourceType("aws:ec2:subnet", "A VPC subnet.", ("AvailabilityZone", "VpcId", "SubnetId", "CidrBlock")),
    ResourceType("aws:rds:db", "An RDS DB instance.",
                 ("AvailabilityZone", "DBInstanceStatus", "Engine", "MultiAZ", "SecondaryAvailabilityZone")),
    ResourceType("aws:dynamodb:global-table", "A DynamoDB global table replica.", ("TableStatus",)),
    ResourceType("aws:directconnect:virtual-interface", "A Direct Connect virtual interface.", ()),
)}

_SELECTION = re.compile(r"^(ALL|COUNT\((\d+)\)|PERCENT\((\d+)\))$")


def selection(mode: str) -> tuple[str, int]:
    """("ALL", 0), ("COUNT", n) or ("PERCENT", n). Raises ValueError naming the value and what is allowed."""
    found = _SELECTION.match(mode or "")
    if found is None or (found.group(2) is not None and int(found.group(2)) < 1) or (
            found.group(3) is not None and not 1 <= int(found.group(3)) <= 100):
        raise ValueError(f"selectionMode {mode!r} is not valid; allowed: ALL, COUNT(n) with n >= 1, PERCENT(n) with n 1-100")
    if found.group(2) is not None:
        return "COUNT", int(found.group(2))
    if found.group(3) is not None:
        return "PERCENT", int(found.group(3))
    return "ALL", 0


def pick(mode: str, resources: list[str], choose: Callable[[list[str], int], list[str]]) -> list[str]:
    """The resources ``mode`` selects: all, n of them, or n% of them (rounded down, at least one when any).

    ``choose(items, k)`` picks which (``random.sample``: FIS selects at random)."""
    kind, n = selection(mode)
    if kind == "ALL":
        return list(resources)
    count = n if kind == "COUNT" else max(1, len(resources) * n // 100) if resources else 0
    return choose(resources, min(count, len(resources)))
