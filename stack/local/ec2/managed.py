"""One checkout instance the EC2 part manages, and the jobs its worker thread runs in order."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from stack.local.ec2.process import CheckoutProcess


@dataclass
class Managed:
    """One checkout instance the part manages (mutated only on the worker thread)."""

    instance_id: str
    region: str
    availability_zone: str
    private_ip: str
    port: int
    process: CheckoutProcess
    state: str = "starting"  # starting, running, restarting, stopped, failed
    exposed: bool = False
    crashes: deque[float] = field(default_factory=deque)
    restarts: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        launch = self.process.launch
        return {
            "instance_id": self.instance_id, "region": self.region, "availability_zone": self.availability_zone,
            "private_ip": self.private_ip, "port": self.port, "pid": self.process.pid if self.process.alive() else None,
            "state": self.state, "exposed": self.exposed, "socket": str(launch.uds), "log": str(launch.log),
            "database_endpoint": launch.database.endpoint if launch.database else None,
            "restarts": self.restarts, "error": self.error,
        }


@dataclass(frozen=True)
class Job:
    kind: str  # "change", "crashed"
    region: str
    operation: str = ""
    instance_ids: tuple[str, ...] = ()


def instance_ids(response_body: bytes) -> tuple[str, ...]:
    """The instance ids in a RunInstances response (EC2's XML)."""
    try:
        root = ElementTree.fromstring(response_body)
    except ElementTree.ParseError:
        return ()
    return tuple(e.text for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "instanceId" and e.text)

