"""RDS's phase durations: scaled, sampled within AWS's ranges, set from the environment's rds: section; the probe's patience."""
from __future__ import annotations

import socket
import threading
from dataclasses import fields

import pytest

from base.errors import SettingsError
from base.timescale import TimeScale
from environments.model import RDS_PHASES, RdsSettings
from stack.local.rds.timing import PhaseRange, RdsTiming
from stack.local.rds.wiring import SSL_REQUEST, answers


def test_samples_stay_in_the_scaled_range() -> None:
    timing = RdsTiming(scale=TimeScale(0.1), seed=1)
    samples = [timing.sample(PhaseRange(30, 60)) for _ in range(200)]
    assert all(3.0 <= s <= 6.0 for s in samples)
    assert max(samples) - min(samples) > 1.0  # a range, not one value


def test_the_environments_rds_section_overrides_phases_and_numbers() -> None:
    timing = RdsTiming.from_settings(TimeScale(0.5), RdsSettings(failover_promote_s=[1, 2], endpoint_ttl_s=10, seed=3))
    assert timing.failover_promote_s == PhaseRange(1, 2)
    assert timing.scaled(timing.endpoint_ttl_s) == 5.0
    assert timing.failover_dns_s == RdsTiming().failover_dns_s  # what the file leaves out keeps RDS's default
    assert RdsTiming.from_settings(TimeScale(0.1), RdsSettings()) == RdsTiming(scale=TimeScale(0.1))
    with pytest.raises(SettingsError, match="need 0 <= min_s <= max_s"):
        PhaseRange(5, 1)


def test_the_environments_schema_names_every_timing_and_only_those() -> None:
    """The schema lives in environments/ (which may not import the stack); this keeps the two in step."""
    configurable = {f.name: f.type for f in fields(RdsTiming) if not f.name.startswith("_") and f.name != "scale"}
    assert set(RdsSettings.model_fields) == set(configurable)
    assert set(RDS_PHASES) == {name for name, kind in configurable.items() if kind == "PhaseRange"}


def test_a_node_that_answers_late_on_a_busy_machine_still_counts_as_reachable() -> None:
    """RDS's monitor probe at the smallest time scale: a PostgreSQL backend that takes 0.5 s to answer the
    SSLRequest (a loaded host) is slow, not cut off. Before, the probe gave up after 0.2 s, and the monitor
    failed over from a healthy primary (seen in bench_rds under load)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def late_postgres() -> None:
            connection, _ = server.accept()
            with connection:
                assert connection.recv(8) == SSL_REQUEST
                threading.Event().wait(0.5)
                connection.sendall(b"N")

        thread = threading.Thread(target=late_postgres, daemon=True)
        thread.start()
        assert answers("127.0.0.1", server.getsockname()[1], RdsTiming(scale=TimeScale(0.01)).probe_timeout_s)
        thread.join(5)
