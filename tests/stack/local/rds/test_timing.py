"""RDS's phase durations: scaled, sampled within AWS's ranges, configurable with clear errors."""
from __future__ import annotations

import pytest

from gameday.errors import SettingsError
from stack.local.rds.timing import PhaseRange, RdsTiming


def test_samples_stay_in_the_scaled_range() -> None:
    timing = RdsTiming(time_scale=0.1, seed=1)
    samples = [timing.sample(PhaseRange(30, 60)) for _ in range(200)]
    assert all(3.0 <= s <= 6.0 for s in samples)
    assert max(samples) - min(samples) > 1.0  # a range, not one value


def test_from_mapping_overrides_phases_and_rejects_unknown_keys() -> None:
    timing = RdsTiming.from_mapping(0.5, {"failover_promote_s": [1, 2], "endpoint_ttl_s": 10})
    assert timing.failover_promote_s == PhaseRange(1, 2)
    assert timing.scaled(timing.endpoint_ttl_s) == 5.0
    with pytest.raises(SettingsError, match="unknown key 'promote_s'"):
        RdsTiming.from_mapping(0.1, {"promote_s": [1, 2]})
    with pytest.raises(SettingsError, match=r"give \[min_s, max_s\]"):
        RdsTiming.from_mapping(0.1, {"failover_dns_s": 5})
    with pytest.raises(SettingsError, match="need 0 <= min_s <= max_s"):
        PhaseRange(5, 1)
