"""EC2 faults."""
from __future__ import annotations

from typing import Any

from faults import resources
from faults.base import ClientFactory, Fault
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline


class StopInstances(Fault):
    """Stop the running instances in an AZ (or all of a Region) that carry a tag; start them again after.

    Every instance the tag selects must also carry the environment's target tag, or the fault refuses.
    The injection returns once EC2 says they are stopped, the rollback once they are running
    (the ``instance_stopped`` / ``instance_running`` waiters): StopInstances only starts a stop.
    """

    name = "ec2.stop_instances"

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, tag: tuple[str, str],
                 availability_zone: str | None = None, timeline: Timeline | None = None,
                 guard: Guard | None = None, wait_delay_s: float = 1.0, wait_attempts: int = 600) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.tag, self.availability_zone = region, tag, availability_zone
        self.wait_delay_s, self.wait_attempts = wait_delay_s, wait_attempts
        self.instance_ids: list[str] = []

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "tag": list(self.tag), "availability_zone": self.availability_zone}

    def discover(self, caller: Caller) -> list[Resource]:
        filters = [{"Name": f"tag:{self.tag[0]}", "Values": [self.tag[1]]},
                   {"Name": "instance-state-name", "Values": ["running"]}]
        if self.availability_zone:
            filters.append({"Name": "availability-zone", "Values": [self.availability_zone]})
        found = resources.instances(self.clients("ec2", self.region), self.region, filters, caller)
        self.instance_ids = [resource.id for resource in found]
        return found

    def inject(self, entry: Entry) -> None:
        # The instances the guard checked, not a fresh query: what was checked is what is stopped.
        self.journal.progress(entry, instance_ids=self.instance_ids)
        if self.instance_ids:
            ec2 = self.clients("ec2", self.region)
            ec2.stop_instances(InstanceIds=self.instance_ids)
            if not self.planning:  # a dry run's ids exist nowhere
                self._wait(ec2, "instance_stopped", self.instance_ids)

    def rollback(self, state: dict[str, Any]) -> None:
        ids = state.get("instance_ids") or []
        if ids:
            ec2 = self.clients("ec2", state["region"])
            ec2.start_instances(InstanceIds=ids)
            self._wait(ec2, "instance_running", ids)

    def _wait(self, ec2: Any, waiter: str, ids: list[str]) -> None:
        # getattr: `gameday recover` restores through a fault built without __init__ (the defaults apply).
        ec2.get_waiter(waiter).wait(InstanceIds=ids, WaiterConfig={
            "Delay": getattr(self, "wait_delay_s", 1.0), "MaxAttempts": getattr(self, "wait_attempts", 600)})

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        ids = state.get("instance_ids") or []
        calls = [Call("ec2", state["region"], "StartInstances", {"InstanceIds": ids})] if ids else []
        return calls, ("waits until they are running (DescribeInstances)" if ids else "")
