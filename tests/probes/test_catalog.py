"""The catalog probe's derivations: staleness per vantage point, convergence after a resume, transitions."""
from __future__ import annotations

from base import clock
from base.timescale import TimeScale
from probes import catalog
from probes.sampler import Sample

SCALE = TimeScale(0.1)
NEW = "w-new"


def seen(write_id: str, price: int = 100) -> catalog.Seen:
    return catalog.Seen(200, price, 2 if write_id == NEW else 1, write_id, "us-east-1", "eu-central-1", "127.0.0.9")


def at(t: float) -> clock.Instant:
    return clock.Instant(1000.0 + t, 1_700_000_000.0 + t)


def series(source: str, shown: list[tuple[float, str | None]]) -> list[Sample[catalog.Seen]]:
    """(time, write id) per sample; None is a failed sample (no answer)."""
    return [Sample(at(t), source, w is not None, None if w is None else seen(w), "" if w else "timeout")
            for t, w in shown]


def shows(value: catalog.Seen) -> bool:
    return value.write_id == NEW


def test_staleness_runs_from_the_write_to_the_first_sample_that_stays_fresh() -> None:
    samples = series("frankfurt", [(0.0, "old"), (1.0, "old"), (2.0, "old"), (3.0, NEW), (4.0, NEW)]) + \
        series("virginia", [(0.0, "old"), (0.6, NEW), (1.6, NEW)])
    found = {s.source: s for s in catalog.staleness(samples, shows, at(0.5), SCALE)}
    assert found["frankfurt"].wall_s == 2.5 and found["frankfurt"].aws_s == 25.0
    assert found["frankfurt"].stale_samples == 2  # the samples at 1.0 and 2.0
    assert round(found["virginia"].wall_s or 0, 6) == 0.1 and found["virginia"].stale_samples == 0


def test_a_flip_back_restarts_the_window_and_failed_samples_are_skipped() -> None:
    samples = series("frankfurt", [(1.0, NEW), (2.0, "old"), (3.0, None), (4.0, NEW), (5.0, NEW)])
    entry = catalog.staleness(samples, shows, at(0.0), SCALE)[0]
    assert entry.visible_at == at(4.0) and entry.wall_s == 4.0


def test_never_fresh_is_none_not_zero() -> None:
    samples = series("frankfurt", [(1.0, "old"), (2.0, NEW), (3.0, "old")])
    entry = catalog.staleness(samples, shows, at(0.0), SCALE)[0]
    assert entry.visible_at is None and entry.wall_s is None and entry.aws_s is None


def test_convergence_is_the_slowest_vantage_point_after_the_resume() -> None:
    samples = series("frankfurt", [(1.0, "old"), (6.0, "old"), (7.0, NEW)]) + series("virginia", [(1.0, NEW)])
    found = catalog.convergence(samples, shows, at(0.5), at(6.5), SCALE)
    assert found.slowest == "frankfurt" and found.wall_s == 0.5 and found.aws_s == 5.0
    assert dict(found.per_source)["virginia"] == 0.0  # fresh before the resume counts as 0


def test_convergence_is_unknown_while_a_vantage_point_is_stale() -> None:
    samples = series("frankfurt", [(1.0, "old"), (7.0, "old")]) + series("virginia", [(1.0, NEW)])
    found = catalog.convergence(samples, shows, at(0.5), at(6.5), SCALE)
    assert found.wall_s is None and found.slowest == "frankfurt"


def test_transitions_keep_only_the_samples_where_what_was_shown_changed() -> None:
    samples = series("frankfurt", [(0.0, "old"), (1.0, "old"), (2.0, None), (3.0, NEW), (4.0, NEW)])
    assert [s.at for s in catalog.transitions(samples)] == [at(0.0), at(2.0), at(3.0)]
