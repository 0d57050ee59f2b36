"""RDS's phase durations: scaled, sampled within AWS's ranges, configurable with clear errors; the probe's patience."""
from __future__ import annotations

import socket
import threading

import pytest

from base.errors import SettingsError
from base.timescale import TimeScale
from stack.local.rds.timing import PhaseRange, RdsTiming
from stack.local.rds.wiring import SSL_REQUEST, answers


def test_samples_stay_in_the_scaled_range() -> None:
    timing = RdsTiming(scale=TimeScale(0.1), seed=1)
    samples = [timing.sample(PhaseRange(30, 60)) for _ in range(200)]
    assert all(3.0 <= s <= 6.0 for s in samples)
    assert max(samples) - min(samples) > 1.0  # a range, not one value


def test_from_mapping_overrides_phases_and_rejects_unknown_keys() -> None:
    timing = RdsTiming.from_mapping(TimeScale(0.5), {"failover_promote_s": [1, 2], "endpoint_ttl_s": 10})
    assert timing.failover_promote_s == PhaseRange(1, 2)
    assert timing.scaled(timing.endpoint_ttl_s) == 5.0
    with pytest.raises(SettingsError, match="unknown key 'promote_s'"):
        RdsTiming.from_mapping(TimeScale(0.1), {"promote_s": [1, 2]})
    with pytest.raises(SettingsError, match=r"give \[min_s, max_s\]"):
        RdsTiming.from_mapping(TimeScale(0.1), {"failover_dns_s": 5})
    with pytest.raises(SettingsError, match="need 0 <= min_s <= max_s"):
        PhaseRange(5, 1)


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
