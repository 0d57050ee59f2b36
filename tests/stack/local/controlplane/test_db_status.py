"""The RDS validators read an instance's live status from the DbStatus service, not from a part found by name."""
from __future__ import annotations

from dataclasses import dataclass, field

from stack.local.controlplane import rds
from stack.local.part import ApiRequest
from stack.local.services import DbStatus, Services

REQUEST = ApiRequest("rds", "RebootDBInstance", "eu-central-1", {"DBInstanceIdentifier": "orders"})


@dataclass
class Stored:
    """What the validator reads of moto's DBInstance."""

    db_instance_identifier: str = "orders"
    status: str = "available"


@dataclass
class Plane:
    services: Services = field(default_factory=Services)


class DataPlane:
    def __init__(self, statuses: dict[tuple[str, str], str]) -> None:
        self.statuses = statuses

    def status_of(self, db_instance_identifier: str, region: str) -> str | None:
        return self.statuses.get((region, db_instance_identifier))


def test_the_data_planes_status_wins_over_moto() -> None:
    plane = Plane()
    plane.services.provide(DbStatus, DataPlane({("eu-central-1", "orders"): "rebooting"}), by="part rds")
    assert rds.db_status(plane, REQUEST, Stored()) == "rebooting"


def test_moto_answers_for_an_instance_the_data_plane_does_not_run() -> None:
    plane = Plane()
    plane.services.provide(DbStatus, DataPlane({("us-east-1", "orders"): "rebooting"}), by="part rds")
    assert rds.db_status(plane, REQUEST, Stored(status="stopped")) == "stopped"


def test_without_a_db_status_provider_moto_answers() -> None:
    assert rds.db_status(Plane(), REQUEST, Stored(status="stopped")) == "stopped"
