"""EC2 faults."""
from __future__ import annotations

from typing import Any

from faults.base import ClientFactory, Fault
from gameday.journal import Entry, Journal
from gameday.timeline import Timeline


class StopInstances(Fault):
    """Stop the running instances in an AZ (or all of a Region) that carry a tag; start them again after."""

    name = "ec2.stop_instances"

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, tag: tuple[str, str],
                 availability_zone: str | None = None, timeline: Timeline | None = None) -> None:
        super().__init__(clients, journal, timeline)
        self.region, self.tag, self.availability_zone = region, tag, availability_zone
        self.instance_ids: list[str] = []

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "tag": list(self.tag), "availability_zone": self.availability_zone}

    def targets(self) -> list[str]:
        return list(self.instance_ids)

    def inject(self, entry: Entry) -> None:
        ec2 = self.clients("ec2", self.region)
        filters = [{"Name": f"tag:{self.tag[0]}", "Values": [self.tag[1]]},
                   {"Name": "instance-state-name", "Values": ["running"]}]
        if self.availability_zone:
            filters.append({"Name": "availability-zone", "Values": [self.availability_zone]})
        self.instance_ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=filters)["Reservations"]
                             for i in r["Instances"]]
        self.journal.progress(entry, instance_ids=self.instance_ids)
        if self.instance_ids:
            ec2.stop_instances(InstanceIds=self.instance_ids)

    def rollback(self, state: dict[str, Any]) -> None:
        ids = state.get("instance_ids") or []
        if ids:
            self.clients("ec2", state["region"]).start_instances(InstanceIds=ids)
