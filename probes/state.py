"""AWS state as the API reports it: RDS instances and events, health-check observations, replica lag."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from probes.sampler import Sampler

ClientFactory = Callable[[str, str], Any]


@dataclass(frozen=True)
class DbState:
    identifier: str
    status: str
    availability_zone: str
    secondary_availability_zone: str
    replica_lag_s: float | None


def db_state(clients: ClientFactory, region: str, identifier: str) -> DbState:
    described = clients("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    lag = described.get("ReplicaLag")
    return DbState(identifier, described["DBInstanceStatus"], described.get("AvailabilityZone", ""),
                   described.get("SecondaryAvailabilityZone", ""), None if lag is None else float(lag))


@dataclass(frozen=True)
class DbEvent:
    at: datetime
    message: str
    event_ids: tuple[str, ...]


def db_events(clients: ClientFactory, region: str, identifier: str, since: datetime) -> list[DbEvent]:
    events = clients("rds", region).describe_events(SourceIdentifier=identifier, SourceType="db-instance",
                                                    StartTime=since)["Events"]
    return [DbEvent(e["Date"], e["Message"], tuple(e.get("EventCategories", ()))) for e in events]


@dataclass(frozen=True)
class Observation:
    region: str
    ip_address: str
    status: str
    checked_at: datetime | None


def health_check_observations(clients: ClientFactory, health_check_id: str) -> list[Observation]:
    observations = clients("route53", "us-east-1").get_health_check_status(HealthCheckId=health_check_id)
    return [Observation(o.get("Region", ""), o.get("IPAddress", ""), o["StatusReport"].get("Status", ""),
                        o["StatusReport"].get("CheckedTime")) for o in observations["HealthCheckObservations"]]


def replica_lag_s(clients: ClientFactory, region: str, identifier: str) -> float | None:
    """ReplicaLag in seconds as DescribeDBInstances reports it; -1 means replication is not running."""
    return db_state(clients, region, identifier).replica_lag_s


def db_sampler(clients: ClientFactory, region: str, identifier: str, interval_s: float) -> Sampler[DbState]:
    return Sampler(f"rds:{identifier}", "aws", lambda: db_state(clients, region, identifier), interval_s,
                   ok=lambda state: state.status == "available")
