"""RTO, RPO and SLO verdicts, computed from samples only (never from the emulator's bookkeeping).

- **RTO** runs from the fault's injection to the first sample after which the steady state holds
  for a whole stability window, for every source (vantage point) at once: the slowest source decides.
  A source that never failed contributes 0 once its good samples after the injection span a whole
  window (what ``Scenario.hold`` waits for). A source whose last stretch of good samples is shorter
  than the window has not recovered, and no sample at all after the injection measures nothing:
  either way the RTO is unknown, and that fails any SLO.
- **RPO** is what the canary's read-back found: the number of acknowledged orders missing, and the
  stretch of acknowledged history they span (oldest to newest lost ack, plus one canary interval,
  the granularity of the measurement). No loss is 0 s. An acknowledged order that could not be read
  back at all may be lost or not: the RPO is unknown, and that fails any SLO.

Times are reported in wall seconds and AWS-equivalent seconds (``TimeScale.to_aws``). SLOs are in
AWS-equivalent seconds.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from environments.model import ScenarioSLO
from base import clock
from base.timescale import TimeScale
from probes.canary import ReadBack
from probes.sampler import Sample


PERCENTILE_METHOD = "nearest rank"


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile by nearest rank: the smallest observed value with at least p % of values at or below it.

    The one percentile of the project: experiments assert with it and reports show it, so both see the
    same number. An observed value, never an interpolation (``statistics.quantiles`` interpolates
    between ranks, and with a few slow requests in the tail answers a latency nobody measured).
    """
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile: p={p!r}; allowed: 0 < p <= 100")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Outage:
    source: str
    started: clock.Instant  # the first failed sample after injection
    ended: clock.Instant | None  # the first good sample of the stable stretch; None if never
    failed_samples: int


@dataclass(frozen=True)
class Rto:
    wall_s: float | None  # None: steady state did not hold for a whole window before sampling ended
    aws_s: float | None
    outages: tuple[Outage, ...]
    window_wall_s: float
    # Sources that never failed after the injection but whose samples after it span less than a window.
    unconfirmed: tuple[str, ...] = ()
    sampled: bool = True  # False: no sample at all after the injection (RTO unknown)


@dataclass(frozen=True)
class Rpo:
    lost_orders: int  # found missing; with unreadable orders, at least this many
    acknowledged: int
    wall_s: float | None  # None: some acknowledged orders could not be read back (RPO unknown)
    aws_s: float | None
    lost_sequences: tuple[int, ...]
    unreadable: tuple[str, ...] = ()  # the read-back's failures, one per order: "<client order id>: <why>"


def rto(samples: Sequence[Sample[Any]], injected: clock.Instant, window_aws_s: float, scale: TimeScale) -> Rto:
    window_wall_s = scale.to_wall(window_aws_s)
    by_source: dict[str, list[Sample[Any]]] = {}
    for sample in samples:
        if sample.at.monotonic_s >= injected.monotonic_s:
            by_source.setdefault(sample.source, []).append(sample)
    if not by_source:
        return Rto(None, None, (), window_wall_s, sampled=False)
    worst: float | None = 0.0
    outages, unconfirmed = [], []
    for source, series in sorted(by_source.items()):
        series.sort(key=lambda s: s.at.monotonic_s)
        failed = [i for i, s in enumerate(series) if not s.ok]
        if not failed:
            # Never failed: 0 s, but only once the good samples span a window (a sampler that died right
            # after the injection shows no failure either).
            if series[-1].at.monotonic_s - series[0].at.monotonic_s < window_wall_s:
                unconfirmed.append(source)
                worst = None
            continue
        recovered = failed[-1] + 1
        stable = recovered < len(series) and series[-1].at.monotonic_s - series[recovered].at.monotonic_s >= window_wall_s
        ended = series[recovered].at if stable else None
        outages.append(Outage(source, series[failed[0]].at, ended, len(failed)))
        if ended is None:
            worst = None
        elif worst is not None:
            worst = max(worst, ended.monotonic_s - injected.monotonic_s)
    return Rto(worst, None if worst is None else scale.to_aws(worst), tuple(outages), window_wall_s,
               tuple(unconfirmed))


def rpo(read_back: ReadBack, canary_interval_s: float, scale: TimeScale) -> Rpo:
    lost = sorted(read_back.missing, key=lambda ack: ack.acked_at.monotonic_s)
    wall: float | None = 0.0
    if read_back.unreadable:
        wall = None  # an order not read may be lost: neither the count nor the span is known
    elif lost:
        wall = lost[-1].acked_at.monotonic_s - lost[0].acked_at.monotonic_s + canary_interval_s
    return Rpo(len(lost), read_back.acknowledged, wall, None if wall is None else scale.to_aws(wall),
               tuple(ack.sequence for ack in lost), read_back.unreadable)


def unreadable_text(unreadable: Sequence[str]) -> str:
    """Why orders could not be read back, most frequent reason first: "HTTP 500 (3 orders), ReadTimeout (1 order)"."""
    reasons = Counter(entry.partition(": ")[2] or entry for entry in unreadable)
    return ", ".join(f"{reason} ({count} order{'s' if count != 1 else ''})" for reason, count in reasons.most_common())


@dataclass(frozen=True)
class Measured:
    """A figure an experiment measured from its samples, against its objective (AWS-equivalent seconds).

    ``kind``: "rpo" or "rto" when the figure is the scenario's data-loss window or recovery time (the
    report's summary shows it there), "" otherwise. ``aws_s`` None: never reached (a breach)."""

    name: str  # e.g. "catalog_staleness_s", the SLO's key
    title: str  # what a person reads: "staleness seen from frankfurt"
    kind: str
    wall_s: float | None
    aws_s: float | None
    slo_s: float | None  # None: no objective; shown, not judged
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.slo_s is None or (self.aws_s is not None and self.aws_s <= self.slo_s)

    def breach(self) -> str:
        """The sentence a person acts on, or "" when within the objective."""
        if self.passed:
            return ""
        measured = "never reached" if self.aws_s is None else f"{self.aws_s:.1f} s"
        return f"{self.title}: {measured} > {self.slo_s:.0f} s SLO ({self.name}){': ' + self.detail if self.detail else ''}"


@dataclass(frozen=True)
class Verdict:
    scenario: str
    passed: bool
    rto: Rto | None  # None: the scenario measures no recovery time (steady-state checks, fault schedules)
    rpo: Rpo | None
    slo: ScenarioSLO
    messages: tuple[str, ...]
    measured: tuple[Measured, ...] = ()  # figures judged beside RTO and RPO (e.g. the catalog's staleness)


def _clock_text(instant: clock.Instant | None) -> str:
    return "(not recovered)" if instant is None else instant.iso[11:23]


def judge(scenario: str, measured_rto: Rto | None, measured_rpo: Rpo | None, slo: ScenarioSLO,
          what: str = "checkout") -> Verdict:
    """Compare with the SLO; every breach gets a sentence a person can act on. No RTO: only the RPO is judged."""
    messages = []
    if measured_rto is not None:
        outages = "; ".join(f"{what} from {o.source} failed from {_clock_text(o.started)} to {_clock_text(o.ended)}"
                            for o in measured_rto.outages) or "no failed samples"
        if not measured_rto.sampled:
            messages.append(f"RTO unknown > {slo.rto_s:.0f} s SLO: no {what} sample after the injection, so nothing "
                            "measured the recovery (check the sampler's name prefix and that it ran until the end)")
        elif measured_rto.unconfirmed:
            messages.append(f"RTO unknown > {slo.rto_s:.0f} s SLO: {what} from "
                            f"{', '.join(measured_rto.unconfirmed)} never failed, but was sampled for less than a whole "
                            f"{measured_rto.window_wall_s:.1f} s window after the injection"
                            + (f"; {outages}" if measured_rto.outages else ""))
        elif measured_rto.aws_s is None:
            messages.append(f"RTO unknown > {slo.rto_s:.0f} s SLO: steady state did not hold for a whole "
                            f"{measured_rto.window_wall_s:.1f} s window before sampling ended: {outages}")
        elif measured_rto.aws_s > slo.rto_s:
            messages.append(f"RTO {measured_rto.aws_s:.0f} s > {slo.rto_s:.0f} s SLO: {outages}")
    if measured_rpo is not None:
        if measured_rpo.unreadable:
            first = ", ".join(entry.partition(": ")[0] for entry in measured_rpo.unreadable[:5])
            messages.append(f"RPO unknown > {slo.rpo_s:.0f} s SLO: {len(measured_rpo.unreadable)} of "
                            f"{measured_rpo.acknowledged} acknowledged orders could not be read back, so whether they "
                            f"were lost is unknown: {unreadable_text(measured_rpo.unreadable)}; first: {first}")
        if slo.lost_orders is not None and measured_rpo.lost_orders > slo.lost_orders:
            messages.append(f"{measured_rpo.lost_orders} acknowledged orders lost > {slo.lost_orders} allowed: "
                            f"canary sequence numbers {list(measured_rpo.lost_sequences)[:20]}")
        if measured_rpo.aws_s is not None and measured_rpo.aws_s > slo.rpo_s:
            messages.append(f"RPO {measured_rpo.aws_s:.0f} s > {slo.rpo_s:.0f} s SLO: "
                            f"{measured_rpo.lost_orders} of {measured_rpo.acknowledged} acknowledged orders lost")
    return Verdict(scenario, not messages, measured_rto, measured_rpo, slo, tuple(messages))


def judge_measured(scenario: str, measured: Sequence[Measured], problems: Sequence[str] = ()) -> Verdict:
    """A verdict from measured figures (and other problems found): every figure over its objective is a breach."""
    messages = tuple(problems) + tuple(m.breach() for m in measured if not m.passed)
    return Verdict(scenario, not messages, None, None, ScenarioSLO(rto_s=0), messages, tuple(measured))
