from __future__ import annotations

import math

import pytest

from base.errors import SettingsError
from base.timescale import DEFAULT_TIME_SCALE, TimeScale


def test_converts_both_ways() -> None:
    scale = TimeScale(0.1)
    assert scale.to_wall(60) == pytest.approx(6.0)
    assert scale.to_aws(6.0) == pytest.approx(60.0)
    assert scale.to_aws(scale.to_wall(123.4)) == pytest.approx(123.4)
    assert TimeScale.REAL.to_wall(5) == 5
    assert TimeScale.DEFAULT.factor == DEFAULT_TIME_SCALE


@pytest.mark.parametrize(("aws_ttl", "factor", "served"), [
    (5, 0.5, 3),     # the RDS endpoint at 0.5: 2.5 rounds up
    (5, 0.3, 2),     # 1.5 rounds up
    (5, 0.1, 1),     # 0.5: never below 1 s
    (60, 0.1, 6),    # 6.000000000000001 in floating point is still 6
    (300, 0.1, 30),
    (1, 0.01, 1),
    (0, 0.1, 0),     # an explicit 0 stays 0
    (86400, 1.0, 86400),
])
def test_ttl_rounds_up_to_whole_seconds_at_least_one(aws_ttl: int, factor: float, served: int) -> None:
    assert TimeScale(factor).ttl(aws_ttl) == served


def test_timeout_has_a_floor_in_wall_seconds() -> None:
    assert TimeScale(0.1).timeout(2.0, floor=1.0) == 1.0  # 0.2 s scaled, but the machine needs 1 s
    assert TimeScale(0.5).timeout(4.0, floor=1.0) == 2.0


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, math.nan, math.inf, True, "0.1", None])
def test_refuses_a_scale_outside_0_to_1_naming_the_field(bad: object) -> None:
    with pytest.raises(SettingsError, match=r"time_scale .* is not allowed; use a number with 0 < time_scale <= 1"):
        TimeScale(bad)  # type: ignore[arg-type]


def test_is_frozen() -> None:
    with pytest.raises(AttributeError):
        TimeScale(0.1).factor = 0.2  # type: ignore[misc]
