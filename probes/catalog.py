"""The catalog probe: the price and version of one product as each vantage point sees it, over time.

A sample is one real HTTP request, GET /products/{sku}, to checkout where the vantage point's DNS answer
sends it (probes.checkout.Client: the vantage point's resolver and source address), so it reads the
catalog replica of the Region serving that user. Nothing is read from the emulator.

From the samples, for a write identified by ``shows`` (a predicate on what a sample saw):

- **staleness**: per vantage point, from the write's acknowledgement to the first sample from which every
  later sample shows it. Until then the user was served the old price: the replication RPO, a pause
  included. Resolution: one sample interval (the change became visible between the last stale sample
  and the first fresh one).
- **convergence**: from the resume of replication to the moment the slowest vantage point shows the write
  (0 for a vantage point that showed it before the resume).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from base import clock
from base.timescale import TimeScale
from probes import checkout as checkout_probe
from probes.sampler import Sample, Sampler


@dataclass(frozen=True)
class Seen:
    """One answer of GET /products/{sku}: what the user was shown, and which Region served it."""

    status: int
    price_cents: int | None
    version: int | None
    write_id: str
    updated_region: str
    region: str  # X-Region: the Region whose replica answered
    address: str


def read(client: checkout_probe.Client, sku: str) -> Seen:
    address, response = client.request("GET", f"/products/{sku}")
    body: dict[str, Any] = {}
    if response.headers.get("Content-Type", "").startswith("application/json"):
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else {}
    price, version = body.get("price_cents"), body.get("version")
    return Seen(response.status_code, price if isinstance(price, int) else None,
                version if isinstance(version, int) else None, str(body.get("write_id", "")),
                str(body.get("updated_region", "")), response.headers.get("X-Region", ""), address)


def sampler(client: checkout_probe.Client, vantage: str, sku: str, interval_s: float) -> Sampler[Seen]:
    """A sample is ok when checkout answered the product (200)."""
    return Sampler(f"catalog:{sku}", vantage, lambda: read(client, sku), interval_s,
                   ok=lambda seen: seen.status == 200 and seen.price_cents is not None)


@dataclass(frozen=True)
class Staleness:
    source: str
    since: clock.Instant  # the write's acknowledgement
    visible_at: clock.Instant | None  # the first sample from which every later one shows the write; None: never
    stale_samples: int  # answered samples after ``since`` that still showed something else
    wall_s: float | None
    aws_s: float | None


def _by_source(samples: Sequence[Sample[Seen]]) -> dict[str, list[Sample[Seen]]]:
    found: dict[str, list[Sample[Seen]]] = {}
    for sample in sorted(samples, key=lambda s: s.at.monotonic_s):
        found.setdefault(sample.source, []).append(sample)
    return found


def visible_from(series: Sequence[Sample[Seen]], shows: Callable[[Seen], bool],
                 after: clock.Instant) -> clock.Instant | None:
    """The first answered sample at or after ``after`` from which every later answered sample shows the write.

    Failed samples (no answer) neither confirm nor contradict: they are skipped. None when the last answered
    sample does not show it (not visible, or not yet)."""
    answered = [s for s in series if s.at.monotonic_s >= after.monotonic_s and s.ok and s.value is not None]
    start = None
    for sample in answered:
        assert sample.value is not None
        if shows(sample.value):
            start = sample if start is None else start
        else:
            start = None
    return None if start is None else start.at


def staleness(samples: Sequence[Sample[Seen]], shows: Callable[[Seen], bool], since: clock.Instant,
              scale: TimeScale) -> list[Staleness]:
    """Per vantage point, how long after ``since`` it kept being served something else than the write."""
    result = []
    for source, series in sorted(_by_source(samples).items()):
        visible = visible_from(series, shows, since)
        stale = [s for s in series if s.at.monotonic_s >= since.monotonic_s and s.ok and s.value is not None
                 and not shows(s.value) and (visible is None or s.at.monotonic_s < visible.monotonic_s)]
        wall = None if visible is None else max(0.0, visible.monotonic_s - since.monotonic_s)
        result.append(Staleness(source, since, visible, len(stale), wall, None if wall is None else scale.to_aws(wall)))
    return result


@dataclass(frozen=True)
class Convergence:
    resumed_at: clock.Instant
    slowest: str  # the vantage point that showed the write last
    wall_s: float | None  # None: some vantage point never showed it
    aws_s: float | None
    per_source: tuple[tuple[str, float | None], ...]  # (vantage point, wall seconds after the resume)


def convergence(samples: Sequence[Sample[Seen]], shows: Callable[[Seen], bool], since: clock.Instant,
                resumed_at: clock.Instant, scale: TimeScale) -> Convergence:
    """From ``resumed_at`` until every vantage point shows the write (made at ``since``)."""
    per_source: list[tuple[str, float | None]] = []
    for entry in staleness(samples, shows, since, scale):
        after = None if entry.visible_at is None else max(0.0, entry.visible_at.monotonic_s - resumed_at.monotonic_s)
        per_source.append((entry.source, after))
    if not per_source or any(after is None for _, after in per_source):
        missing = [source for source, after in per_source if after is None]
        return Convergence(resumed_at, ", ".join(missing) or "no samples", None, None, tuple(per_source))
    slowest, wall = max(per_source, key=lambda pair: pair[1] or 0.0)
    assert wall is not None
    return Convergence(resumed_at, slowest, wall, scale.to_aws(wall), tuple(per_source))


def transitions(samples: Sequence[Sample[Seen]]) -> list[Sample[Seen]]:
    """Per vantage point, the samples where what it saw changed (price, version, writer or failure): the story
    a report tells without listing every sample."""
    changes = []
    for series in _by_source(samples).values():
        last: tuple[Any, ...] | None = None
        for sample in series:
            value = sample.value
            key = (sample.ok, None if value is None else (value.price_cents, value.version, value.write_id, value.region))
            if key != last:
                changes.append(sample)
                last = key
    return sorted(changes, key=lambda s: s.at.monotonic_s)
