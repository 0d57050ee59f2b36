"""RTO and RPO from samples, and SLO messages a person can act on."""
from __future__ import annotations

from environments.model import ScenarioSLO
from base import clock
from base.timescale import TimeScale
from probes import slo
from probes.canary import Ack, ReadBack
from probes.sampler import Sample

T0 = clock.Instant(1000.0, 1_800_000_000.0)
SCALE = TimeScale(0.1)


def at(offset_s: float) -> clock.Instant:
    return clock.Instant(T0.monotonic_s + offset_s, T0.wall_time + offset_s)


def series(source: str, pattern: str, step_s: float = 0.5, start_s: float = 0.1) -> list[Sample[None]]:
    """'.' is a good sample, 'x' a failed one, every ``step_s`` from ``start_s`` after injection."""
    return [Sample(at(start_s + i * step_s), source, ch == ".", None) for i, ch in enumerate(pattern)]


def test_no_failure_is_zero() -> None:
    result = slo.rto(series("virginia", "." * 20), T0, window_aws_s=30, scale=SCALE)
    assert result.wall_s == 0 and result.outages == ()


def test_rto_ends_at_the_first_sample_of_the_stable_stretch() -> None:
    # fails from 0.6 s, one good sample at 2.1 s that does not hold, stable from 3.1 s on
    samples = series("frankfurt", "." + "xxx" + "." + "x" + "." * 10)
    result = slo.rto(samples, T0, window_aws_s=30, scale=SCALE)  # window 3 s wall
    assert result.wall_s is not None and abs(result.wall_s - 3.1) < 1e-9
    assert result.aws_s is not None and abs(result.aws_s - 31) < 1e-6
    assert result.outages[0].failed_samples == 4


def test_the_slowest_vantage_point_decides() -> None:
    samples = series("virginia", "x" + "." * 12) + series("singapore", "xxxx" + "." * 9)
    result = slo.rto(samples, T0, window_aws_s=30, scale=SCALE)
    assert result.wall_s is not None and abs(result.wall_s - 2.1) < 1e-9
    assert [o.source for o in result.outages] == ["singapore", "virginia"]


def test_a_stretch_shorter_than_the_window_is_not_recovery() -> None:
    result = slo.rto(series("oregon", "xxxx" + "..."), T0, window_aws_s=30, scale=SCALE)
    assert result.wall_s is None
    verdict = slo.judge("az_outage", result, None, ScenarioSLO(rto_s=120))
    assert not verdict.passed and "RTO unknown > 120 s SLO" in verdict.messages[0]


def test_samples_before_injection_are_ignored() -> None:
    before: list[Sample[None]] = [Sample(at(-1.0), "virginia", False, None)]
    assert slo.rto(before + series("virginia", "." * 10), T0, 30, SCALE).wall_s == 0


def test_breach_message_names_what_where_and_when() -> None:
    samples = series("frankfurt", "x" * 30 + "." * 8, step_s=0.5)
    verdict = slo.judge("route53_failover", slo.rto(samples, T0, 30, SCALE), None, ScenarioSLO(rto_s=120))
    assert not verdict.passed
    message = verdict.messages[0]
    assert message.startswith("RTO 151 s > 120 s SLO: checkout from frankfurt failed from ")
    assert at(0.1).iso[11:23] in message and at(15.1).iso[11:23] in message


def _ack(sequence: int, offset_s: float) -> Ack:
    return Ack(sequence, f"c-{sequence}", str(sequence), at(offset_s))


def test_rpo_counts_lost_acknowledged_orders_and_their_span() -> None:
    lost = (_ack(7, 3.0), _ack(8, 3.2), _ack(9, 3.4))
    result = slo.rpo(ReadBack(acknowledged=50, missing=lost, unreadable=()), canary_interval_s=0.2, scale=SCALE)
    assert result.lost_orders == 3 and result.lost_sequences == (7, 8, 9)
    assert result.wall_s is not None and result.aws_s is not None
    assert abs(result.wall_s - 0.6) < 1e-9 and abs(result.aws_s - 6.0) < 1e-6
    verdict = slo.judge("multi_az_failover", slo.rto(series("virginia", "." * 10), T0, 30, SCALE), result,
                        ScenarioSLO(rto_s=120, rpo_s=0, lost_orders=0))
    assert not verdict.passed
    assert "3 acknowledged orders lost > 0 allowed: canary sequence numbers [7, 8, 9]" in verdict.messages
    assert any(m.startswith("RPO 6 s > 0 s SLO") for m in verdict.messages)


def test_nothing_lost_passes() -> None:
    result = slo.rpo(ReadBack(acknowledged=50, missing=(), unreadable=()), 0.2, SCALE)
    verdict = slo.judge("multi_az_failover", slo.rto(series("virginia", "." * 10), T0, 30, SCALE), result,
                        ScenarioSLO(rto_s=120))
    assert verdict.passed and result.aws_s == 0


def test_no_sample_after_the_injection_is_an_unknown_rto_that_fails() -> None:
    before: list[Sample[None]] = [Sample(at(-1.0), "virginia", True, None)]
    for samples in ([], before):  # nothing sampled, or a sampler name that matched nothing after the injection
        result = slo.rto(samples, T0, 30, SCALE)
        assert result.wall_s is None and result.aws_s is None and not result.sampled
        verdict = slo.judge("az_outage", result, None, ScenarioSLO(rto_s=120))
        assert not verdict.passed
        assert verdict.messages[0].startswith("RTO unknown > 120 s SLO: no checkout sample after the injection")


def test_a_source_that_never_failed_needs_a_whole_window_of_good_samples() -> None:
    # A sampler that died after one good sample looks like a source that never failed.
    result = slo.rto(series("virginia", "."), T0, window_aws_s=30, scale=SCALE)  # window 3 s wall
    assert result.wall_s is None and result.unconfirmed == ("virginia",)
    verdict = slo.judge("az_outage", result, None, ScenarioSLO(rto_s=120))
    assert not verdict.passed
    assert verdict.messages[0].startswith("RTO unknown > 120 s SLO: checkout from virginia never failed, but was "
                                          "sampled for less than a whole 3.0 s window after the injection")
    # 2.5 s of good samples is still short of the window; 3.0 s is as much as Scenario.hold asks for
    assert slo.rto(series("virginia", "." * 6), T0, 30, SCALE).wall_s is None
    assert slo.rto(series("virginia", "." * 7), T0, 30, SCALE).wall_s == 0


def test_a_short_source_beside_a_recovered_one_leaves_the_rto_unknown() -> None:
    samples = series("virginia", "x" + "." * 12) + series("singapore", "..")
    result = slo.rto(samples, T0, window_aws_s=30, scale=SCALE)
    assert result.wall_s is None and result.unconfirmed == ("singapore",)
    assert [o.source for o in result.outages] == ["virginia"]


def test_orders_that_could_not_be_read_back_make_the_rpo_unknown_and_fail() -> None:
    # Every read-back answered 500: nothing is known missing, and nothing is known safe either.
    unreadable = tuple(f"c-{sequence}: HTTP 500" for sequence in range(1, 4)) + ("c-4: ReadTimeout",)
    result = slo.rpo(ReadBack(acknowledged=4, missing=(), unreadable=unreadable), 0.2, SCALE)
    assert result.wall_s is None and result.aws_s is None and result.lost_orders == 0
    verdict = slo.judge("multi_az_failover", slo.rto(series("virginia", "." * 10), T0, 30, SCALE), result,
                        ScenarioSLO(rto_s=120, rpo_s=0, lost_orders=0))
    assert not verdict.passed
    assert verdict.messages == ("RPO unknown > 0 s SLO: 4 of 4 acknowledged orders could not be read back, so whether "
                                "they were lost is unknown: HTTP 500 (3 orders), ReadTimeout (1 order); "
                                "first: c-1, c-2, c-3, c-4",)
