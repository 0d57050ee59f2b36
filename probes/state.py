"""AWS state as the API reports it: RDS instances and events, health-check observations, replica lag."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from base.clients import ClientFactory
from probes.sampler import Sampler


@dataclass(frozen=True)
class DbState:
    identifier: str
    status: str
    availability_zone: str
    secondary_availability_zone: str


def db_state(clients: ClientFactory, region: str, identifier: str) -> DbState:
    described = clients("rds", region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    return DbState(identifier, described["DBInstanceStatus"], described.get("AvailabilityZone", ""),
                   described.get("SecondaryAvailabilityZone", ""))


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


def replica_lag_s(clients: ClientFactory, region: str, identifier: str, within_s: float = 300) -> float | None:
    """The newest ReplicaLag datapoint (CloudWatch AWS/RDS, published every minute) of the last ``within_s``.

    None when there is none (the replica is new, or RDS stopped publishing); -1 means RDS reports that
    replication is not running. DescribeDBInstances carries no lag: CloudWatch is where AWS puts it.
    """
    now = datetime.now(timezone.utc)
    datapoints = clients("cloudwatch", region).get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ReplicaLag", Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
        # EndTime a period ahead: a datapoint stamped this very second is in the window too.
        StartTime=now - timedelta(seconds=within_s), EndTime=now + timedelta(seconds=60), Period=60,
        Statistics=["Maximum"])["Datapoints"]
    if not datapoints:
        return None
    return float(max(datapoints, key=lambda point: point["Timestamp"])["Maximum"])


def lag_sampler(clients: ClientFactory, region: str, identifier: str, interval_s: float,
                within_s: float = 300) -> Sampler[float | None]:
    """A sample is ok when the replica reports a lag (>= 0): it is replicating."""
    return Sampler(f"replica-lag:{identifier}", region, lambda: replica_lag_s(clients, region, identifier, within_s),
                   interval_s, ok=lambda lag: lag is not None and lag >= 0)


def db_sampler(clients: ClientFactory, region: str, identifier: str, interval_s: float) -> Sampler[DbState]:
    return Sampler(f"rds:{identifier}", "aws", lambda: db_state(clients, region, identifier), interval_s,
                   ok=lambda state: state.status == "available")
