"""EC2 faults."""
from __future__ import annotations

from typing import Any

from faults import resources
from faults.base import ClientFactory, Fault
from gameday.guard import Caller, Guard, Resource
from gameday.journal import Entry, Journal
from gameday.plan import Call
from gameday.timeline import Timeline


class StopInstances(Fault):
    """Stop the running instances in an AZ (or all of a Region) that carry a tag; start them again after.

    Every instance the tag selects must also carry the environment's target tag, or the fault refuses.
    """

    name = "ec2.stop_instances"

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, tag: tuple[str, str],
                 availability_zone: str | None = None, timeline: Timeline | None = None,
                 guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.tag, self.availability_zone = region, tag, availability_zone
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
            self.clients("ec2", self.region).stop_instances(InstanceIds=self.instance_ids)

    def rollback(self, state: dict[str, Any]) -> None:
        ids = state.get("instance_ids") or []
        if ids:
            self.clients("ec2", state["region"]).start_instances(InstanceIds=ids)

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        ids = state.get("instance_ids") or []
        return ([Call("ec2", state["region"], "StartInstances", {"InstanceIds": ids})] if ids else []), ""
