"""How long RDS's processes take, in AWS-equivalent seconds, and their wall-clock length on the stack's ``TimeScale``.

AWS documents a Multi-AZ failover as typically 60-120 s in total; the split into phases below is
ours, chosen so the phases add up to that range. Every value can be overridden (for example from
an ``rds:`` section of the environment: environments.model.RdsSettings, its names, types and ranges).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from base.errors import SettingsError
from base.timescale import TimeScale
from environments.model import RDS_PHASES, RdsSettings


@dataclass(frozen=True)
class PhaseRange:
    """A duration AWS gives as a range, in AWS-equivalent seconds."""

    min_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not 0 <= self.min_s <= self.max_s:
            raise SettingsError(f"RDS phase range {self.min_s}..{self.max_s} s is not allowed; need 0 <= min_s <= max_s")


@dataclass(frozen=True)
class RdsTiming:
    scale: TimeScale = TimeScale.DEFAULT
    # RebootDBInstance(ForceFailover): RDS-EVENT-0013 until the primary is down.
    failover_shutdown_s: PhaseRange = PhaseRange(10, 20)
    # The standby's promotion until it accepts writes.
    failover_promote_s: PhaseRange = PhaseRange(30, 60)
    # The endpoint's DNS record moves; then RDS-EVENT-0015 and 0049.
    failover_dns_s: PhaseRange = PhaseRange(20, 40)
    # Automatic failover: how long RDS's health checks take to declare the primary dead.
    failover_detection_s: PhaseRange = PhaseRange(15, 30)
    # Reboot without failover: the server is down this long.
    reboot_s: PhaseRange = PhaseRange(10, 30)
    # PromoteReadReplica: the replica reboots as a standalone instance.
    promote_replica_s: PhaseRange = PhaseRange(30, 60)
    # Transaction logs are shipped every 5 minutes (LatestRestorableTime trails by up to that).
    log_shipping_interval_s: float = 300.0
    # CloudWatch's RDS metrics (ReplicaLag) are published every minute.
    metric_interval_s: float = 60.0
    # How often RDS's monitor checks the primary's process.
    health_check_interval_s: float = 5.0
    # The endpoint record's TTL, in AWS seconds like everything here: Route 53 scales it when it serves it.
    endpoint_ttl_s: float = 5.0
    # A cut replication link is noticed after this (PostgreSQL's wal_sender/receiver_timeout default).
    replication_timeout_s: float = 60.0
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._rng.seed(self.seed)

    def scaled(self, aws_s: float) -> float:
        """Wall-clock seconds for an AWS-equivalent duration."""
        return self.scale.to_wall(aws_s)

    @property
    def probe_timeout_s(self) -> float:
        """How long RDS's monitor waits for a node to answer on its address (2 AWS s, at least 1 s wall).

        The floor is for the machine, not for AWS: on a busy host a PostgreSQL backend can take a few
        hundred ms to answer, and a late answer must not pass for a lost AZ (a spurious failover)."""
        return self.scale.timeout(2.0, floor=1.0)

    def sample(self, phase: PhaseRange) -> float:
        """Wall-clock seconds for one run of ``phase``: uniform in its range, scaled."""
        return self.scaled(self._rng.uniform(phase.min_s, phase.max_s))

    @classmethod
    def from_settings(cls, scale: TimeScale, settings: RdsSettings) -> "RdsTiming":
        """Build from the environment's ``rds:`` section, which the environment file's loader validated."""
        updates: dict[str, Any] = {name: PhaseRange(*value) if name in RDS_PHASES else value
                                   for name, value in settings.overrides().items()}
        return replace(cls(scale=scale), **updates)
