"""The FIS actions, each done through the local stack's own AWS API, the calls FIS makes on AWS.

An action is a function of its ``Run``: it makes its change, says so (``run.applied()``: the action
shows ``running`` once its effect is in place, ``initiating`` before), waits out its duration (``run.wait``,
which returns False as soon as the experiment is stopping), and undoes what it did in ``finally``,
so a stopped or failed experiment leaves nothing behind. The parts behind the endpoint make each
call real: the ec2 part stops and starts checkout processes, the rds part fails the database over,
the fabric enforces the NACLs (network.py).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from base.deadline import until
from base.timescale import TimeScale
from stack.local import fiscatalog
from stack.local.services import InstanceProcesses, Toxics

Clients = Callable[[str, str], Any]


class ActionFailed(Exception):
    """The action could not do what it says (FIS marks it failed with this reason)."""


@dataclass
class Run:
    """What one running action is given."""

    name: str
    action_id: str
    region: str
    parameters: Mapping[str, str]
    targets: Mapping[str, list[str]]  # the action's target key -> resolved ARNs
    clients: Clients
    timescale: TimeScale
    cancelled: threading.Event
    log: logging.Logger
    experiment_id: str = ""
    on_applied: Callable[[], None] = lambda: None
    toxics: Toxics | None = None  # the fabric's, for the SSM network documents (None: no fabric part)
    processes: InstanceProcesses | None = None  # the ec2 part's, for AWSFIS-Run-CPU-Stress (None: no ec2 part)
    described: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # ARN -> as target resolution read it

    def applied(self) -> None:
        """The action's effect is in place: FIS shows it ``running`` from now on (``initiating`` until then)."""
        self.on_applied()

    def duration_wall_s(self, parameter: str = "duration") -> float | None:
        value = self.parameters.get(parameter)
        return None if value is None else self.timescale.to_wall(fiscatalog.duration_s(value))

    def wait(self, wall_s: float) -> bool:
        """Wait ``wall_s``; False when the experiment is stopping first."""
        return not self.cancelled.wait(wall_s)

    def ids(self, key: str) -> list[str]:
        return [arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for arn in self.targets.get(key, [])]


def _instance_states(run: Run, ids: list[str]) -> dict[str, str]:
    reservations = run.clients("ec2", run.region).describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def _await_instances(run: Run, ids: list[str], state: str) -> None:
    until(lambda: all(s == state for s in _instance_states(run, ids).values()), run.timescale.timeout(600, floor=30.0),
          f"instances {ids} {state}", 0.05)


def wait(run: Run) -> None:
    """aws:fis:wait: nothing but the duration."""
    seconds = run.duration_wall_s()
    assert seconds is not None
    run.applied()
    run.wait(seconds)


def stop_instances(run: Run) -> None:
    """aws:ec2:stop-instances; with startInstancesAfterDuration, start them again after it (or when stopped)."""
    ids = run.ids("Instances")
    ec2 = run.clients("ec2", run.region)
    after = run.duration_wall_s("startInstancesAfterDuration")
    ec2.stop_instances(InstanceIds=ids)
    try:
        _await_instances(run, ids, "stopped")
        run.applied()
        if after is not None:
            run.wait(after)
    finally:
        if after is not None:
            ec2.start_instances(InstanceIds=ids)
            _await_instances(run, ids, "running")


def terminate_instances(run: Run) -> None:
    """aws:ec2:terminate-instances: nothing to undo (as on AWS)."""
    ids = run.ids("Instances")
    run.clients("ec2", run.region).terminate_instances(InstanceIds=ids)
    _await_instances(run, ids, "terminated")


def reboot_db_instances(run: Run) -> None:
    """aws:rds:reboot-db-instances: RebootDBInstance for each, with ForceFailover when asked."""
    rds = run.clients("rds", run.region)
    force = run.parameters.get("forceFailover", "false") == "true"
    for identifier in run.ids("DBInstances"):
        rds.reboot_db_instance(DBInstanceIdentifier=identifier, **({"ForceFailover": True} if force else {}))


def runners() -> dict[str, Callable[[Run], None]]:
    """actionId -> the function that runs it."""
    from stack.local.fis import directconnect, dynamodb, network, ssm

    return {
        "aws:fis:wait": wait,
        "aws:ec2:stop-instances": stop_instances,
        "aws:ec2:terminate-instances": terminate_instances,
        "aws:rds:reboot-db-instances": reboot_db_instances,
        "aws:network:disrupt-connectivity": network.disrupt_connectivity,
        "aws:network:route-table-disrupt-cross-region-connectivity": network.disrupt_cross_region,
        "aws:dynamodb:global-table-pause-replication": dynamodb.pause_replication,
        "aws:ssm:send-command": ssm.send_command,
        "aws:directconnect:virtual-interface-disconnect": directconnect.disconnect,
    }


