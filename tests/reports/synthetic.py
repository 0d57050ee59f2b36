"""Synthetic but realistic game-day results, built with the real Timeline, Sample, Verdict and canary types.

Times are set by a controlled clock (``base.clock.now`` patched while the timeline records), so
a scenario has seconds of steady state, an injection, an outage and a recovery exactly where the
story says, at the local environment's time_scale of 0.1. Verdicts are computed by ``probes.slo``
from the samples, never written by hand.

``python -m tests.reports.synthetic OUT_DIR`` writes a pack from them (used for the docs screenshot).
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Callable, Iterator
from unittest import mock

from environments import loader
from environments.model import LocalEnvironment, ScenarioSLO
from base import clock
from base.timeline import Timeline
from base.timescale import TimeScale
from probes import slo
from probes.canary import Ack, Attempt, ReadBack
from probes.checkout import Response
from probes.dns import Answer
from probes.sampler import Sample
from probes.traces import GraphEdge, SlowTrace, TraceEvidence
from reports import run as run_
from experiments.result import INFRASTRUCTURE_UNAVAILABLE, ScenarioResult

WALL_EPOCH = 1_760_000_000.0  # 2025-10-09T08:53:20Z: fixed, so the pack is reproducible
MONO_EPOCH = 1000.0
SCALE = TimeScale(0.1)
VANTAGES = {"virginia": "us-east-1", "oregon": "us-west-2", "frankfurt": "eu-central-1", "singapore": "ap-southeast-1"}
REGION_ADDRESS = {"us-east-1": "127.16.1.10", "us-west-2": "127.17.1.10", "eu-central-1": "127.18.1.10",
                  "ap-southeast-1": "127.19.1.10"}
INSTANCE = {r: f"i-0{n}a7c3e9f1b2d4{n}" for n, r in enumerate(REGION_ADDRESS)}
BASE_LATENCY_MS = {"virginia": 12.0, "oregon": 11.0, "frankfurt": 14.0, "singapore": 13.0}


def at(t_s: float) -> clock.Instant:
    return clock.Instant(MONO_EPOCH + t_s, WALL_EPOCH + t_s)


@contextlib.contextmanager
def controlled_clock(offset_s: float) -> Iterator[Callable[[float], None]]:
    """Patch ``base.clock.now``; the yielded ``set(t_s)`` moves it to ``offset_s + t_s``."""
    now = [at(offset_s)]
    with mock.patch.object(clock, "now", lambda: now[0]):
        yield lambda t_s: now.__setitem__(0, at(offset_s + t_s))


# The synthetic run's own objectives, so the tests do not follow edits to the shipped local.yaml.
SLOS = {"route53_failover": {"rto_s": 150}, "multi_az_failover": {"rto_s": 120, "rpo_s": 0, "lost_orders": 0},
        "az_outage": {"rto_s": 180, "rpo_s": 0, "lost_orders": 0}, "region_evacuation": {"rto_s": 900, "rpo_s": 300}}


def environment() -> LocalEnvironment:
    loaded = loader.load("local")
    assert isinstance(loaded, LocalEnvironment)
    scenarios = {name: ScenarioSLO(**values) for name, values in SLOS.items()}
    return loaded.model_copy(update={"slos": loaded.slos.model_copy(update={"scenarios": scenarios})})


def _jitter(i: int, spread: float) -> float:
    return ((i * 7919) % 97) / 97 * spread  # deterministic "noise"


def _samples(start_s: float, end_s: float, step_s: float) -> Iterator[tuple[int, float]]:
    i, t = 0, start_s
    while t < end_s:
        yield i, round(t, 3)
        i += 1
        t = start_s + i * step_s


def build(name: str, offset_s: float, fault: str, targets: tuple[str, ...], inject_s: float, end_s: float,
          outage: Callable[[str, float], bool], region_at: Callable[[str, float], str], title: str,
          canary: bool = True, lost_at: tuple[float, ...] = (), events: Callable[[Timeline, Callable[[float], None]], None]
          = lambda timeline, set_: None, secret_note: str = "", rollback_s: float | None = None) -> ScenarioResult:
    """One scenario: steady state until ``inject_s``, ``outage(vantage, t)`` says when checkout fails there."""
    env = environment()
    with controlled_clock(offset_s) as set_:
        timeline = Timeline(f"experiments/test_{name}.py::test_{name}", SCALE)
        set_(0.2)
        timeline.record("note", "steady state", phase="steady state")
        set_(inject_s - 0.05)
        timeline.record("api_call", "DescribeDBInstances", service="rds", region="us-east-1", status=200)
        set_(inject_s)
        timeline.record("fault_injected", fault, params={"region": "us-east-1", "targets": list(targets)},
                        state={}, targets=list(targets))
        timeline.record("note", "observe", phase="observe")
        events(timeline, set_)
        if secret_note:
            timeline.record("note", "connection", dsn=secret_note, detail=f"connecting with {secret_note}")
        set_(rollback_s if rollback_s is not None else end_s - 0.5)
        timeline.record("fault_rolled_back", fault, outcome="rolled back")
    dns: list[Sample[Answer]] = []
    checkout: list[Sample[Response]] = []
    for vantage in VANTAGES:
        for i, t in _samples(0.05, end_s, 0.25):
            region = region_at(vantage, t)
            dns.append(Sample(at(offset_s + t), vantage, True,
                              Answer("checkout.securecart.example.", (REGION_ADDRESS[region],), 6, "NOERROR", 24),
                              duration_ms=0.8 + _jitter(i, 0.6)))
        for i, t in _samples(0.1, end_s, 0.2):
            if outage(vantage, t):
                checkout.append(Sample(at(offset_s + t), vantage, False, None, "ReadTimeout: timed out after 2.0 s",
                                       2000.0))
                continue
            region = region_at(vantage, t)
            rtt = env.vantage_points[vantage].rtt_ms[region]
            latency = rtt + BASE_LATENCY_MS[vantage] + _jitter(i, 9) + (35 if i % 53 == 0 else 0)
            checkout.append(Sample(at(offset_s + t), vantage, True,
                                   Response(REGION_ADDRESS[region], 200, latency, INSTANCE[region],
                                            region), duration_ms=latency))
    attempts, acks, lost = [], [], []
    if canary:
        for i, t in _samples(0.15, end_s - 0.6, 0.1):
            sequence = i + 1
            failed = outage("virginia", t)
            attempts.append(Attempt(sequence, at(offset_s + t), not failed, "HTTP 503" if failed else ""))
            if not failed:
                ack = Ack(sequence, f"canary-5f3a9c21-{sequence:06d}", str(40_000 + sequence), at(offset_s + t + 0.02))
                acks.append(ack)
                if any(abs(t - lost_t) < 0.05 for lost_t in lost_at):
                    lost.append(ack)
    read_back = ReadBack(len(acks), tuple(lost), ()) if canary else None
    injected = at(offset_s + inject_s)
    scenario_slo = env.slos.scenarios[name]
    measured_rto = slo.rto(checkout, injected, env.slos.stability_window_s, SCALE)
    measured_rpo = slo.rpo(read_back, 0.1, SCALE) if read_back else None
    verdict = slo.judge(name, measured_rto, measured_rpo, scenario_slo)
    with controlled_clock(offset_s) as set_:
        set_(end_s)
        timeline.record("verdict", name, passed=verdict.passed, messages=list(verdict.messages))
    return ScenarioResult(name, title, fault, targets, timeline, verdict, tuple(dns), tuple(checkout), tuple(attempts),
                          tuple(acks), read_back, runbook=f"docs/runbooks.md#{name.replace('_', '-')}",
                          markers=("failover", "gameday"), nodeid=timeline.name)


def route53_failover() -> ScenarioResult:
    inject = 4.0
    moved = inject + 9.0  # 10 s interval x 3 + 60 s TTL, at time_scale 0.1

    def events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        set_(inject + 3.0)
        timeline.record("state", "health check hc-use1 unhealthy", milestone="detection", checkers=8, healthy=0)

    return build("route53_failover", 0.0, "route53.fail_health_check",
                 ("arn:aws:route53:::healthcheck/5d1c7a52-1f7e-4b8e-9a3f-use1",), inject, 24.0,
                 outage=lambda v, t: v == "virginia" and inject + 0.3 <= t < moved + 0.2,
                 region_at=lambda v, t: "us-west-2" if v == "virginia" and t >= moved else VANTAGES[v],
                 title="Lab 2: Route 53 failover of us-east-1", events=events)


def multi_az_failover(secret_note: str = "") -> ScenarioResult:
    inject = 4.0

    def events(timeline: Timeline, set_: Callable[[float], None]) -> None:
        set_(inject + 0.4)
        timeline.record("state", "RDS-EVENT-0013 Multi-AZ instance failover started", source="orders")
        set_(inject + 3.1)
        timeline.record("state", "RDS-EVENT-0015 Multi-AZ failover to standby complete", source="orders")
        set_(inject + 3.2)
        timeline.record("state", "orders: AvailabilityZone us-east-1b, SecondaryAvailabilityZone us-east-1a")

    result = build("multi_az_failover", 40.0, "rds.reboot_with_failover",
                   ("arn:aws:rds:us-east-1:123456789012:db:orders",), inject, 18.0,
                   outage=lambda v, t: inject + 0.3 <= t < inject + 4.4, region_at=lambda v, t: VANTAGES[v],
                   title="Lab 3: Multi-AZ RDS reboot with failover, under orders", events=events, secret_note=secret_note)
    return dataclasses.replace(result, traces=failover_traces(WALL_EPOCH + 40.0 + inject))


def failover_traces(start_s: float) -> TraceEvidence:
    """What X-Ray showed of a Multi-AZ failover: reconnecting dominates the slow orders."""
    database = "postgres@orders.c0ffee.us-east-1.rds.amazonaws.com"
    slowest = tuple(SlowTrace(
        f"1-{int(start_s):08x}-{i:024x}", "us-east-1", 2900.0 - 300 * i, "POST /orders 201", False, False,
        {"reconnect": 2700.0 - 300 * i, "queries": 150.0, "checkout": 50.0}) for i in range(3))
    return TraceEvidence("the Multi-AZ failover", start_s, start_s + 4.4, traces=40, total_ms=9000.0,
                         buckets_ms={"reconnect": 7200.0, "queries": 1300.0, "checkout": 500.0}, slowest=slowest,
                         graph=(GraphEdge("us-east-1", "checkout", database, "Database::SQL", 120, 6, 0, 55.2),
                                GraphEdge("us-east-1", "client", "checkout", "AWS::EC2::Instance", 40, 0, 0, 225.0)))


def az_outage() -> ScenarioResult:
    inject = 4.0
    return build("az_outage", 80.0, "network.isolate_az",
                 ("arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a1b2c3d", "acl-0f9e8d7c6b5a"), inject, 34.0,
                 outage=lambda v, t: v in ("virginia", "frankfurt") and inject + 0.3 <= t < inject + 21.5,
                 region_at=lambda v, t: VANTAGES[v], title="AZ outage: us-east-1a isolated by NACL (FIS method)",
                 lost_at=(inject + 0.25,), rollback_s=30.0)


def latency_routing() -> ScenarioResult:
    """Lab 1: a steady-state check without a fault, so no recovery time is measured (verdict.rto None)."""
    with controlled_clock(150.0) as set_:
        timeline = Timeline("experiments/test_lab1_latency_routing.py::test_latency_routing", SCALE)
        set_(0.5)
        timeline.record("note", "steady state", phase="steady state")
        verdict = slo.Verdict("latency_routing", True, None, None, ScenarioSLO(rto_s=0), ())
        timeline.record("verdict", "latency_routing", passed=True, messages=[])
    checkout = tuple(Sample(at(150.0 + t), vantage, True, Response(REGION_ADDRESS[region], 200, 12.0, INSTANCE[region],
                                                                  region), duration_ms=12.0)
                     for vantage, region in VANTAGES.items() for _, t in _samples(0.6, 2.0, 0.2))
    return ScenarioResult("latency_routing", "Lab 1: latency routing", "none", (), timeline, verdict, (), checkout,
                          runbook="docs/runbooks.md#latency-routing", markers=("gameday",), nodeid=timeline.name)


def broken_region_evacuation() -> ScenarioResult:
    with controlled_clock(130.0) as set_:
        timeline = Timeline("experiments/test_region_evacuation.py::test_region_evacuation", SCALE)
        set_(0.5)
        timeline.record("note", "steady state", phase="steady state")
    return ScenarioResult("region_evacuation", "Region evacuation: us-east-1 cut off, replica promoted",
                          "network.isolate_region", ("us-east-1",), timeline, None, runbook="docs/runbooks.md#region-evacuation",
                          markers=("region", "gameday"), nodeid=timeline.name,
                          error="StackNotRunning: no local stack is running for instance 1",
                          error_kind=INFRASTRUCTURE_UNAVAILABLE)


def run(secret_note: str = "", settings_extra: dict[str, tuple[str, str]] | None = None,
        scenarios: tuple[ScenarioResult, ...] | None = None, run_id: str | None = None) -> run_.Run:
    env = environment()
    chosen = scenarios if scenarios is not None else (
        route53_failover(), multi_az_failover(secret_note), az_outage(), broken_region_evacuation())
    settings: tuple[run_.SettingInForce, ...] = (
        run_.SettingInForce("env", "local", "default"), run_.SettingInForce("instance", "1", "option"),
        run_.SettingInForce("keep_stack", "False", "default"))
    settings += tuple(run_.SettingInForce(n, v, s) for n, (v, s) in (settings_extra or {}).items())
    return run_.create(env, chosen, at(0.0), at(140.0), settings=settings, run_id=run_id)


if __name__ == "__main__":
    from reports import evidence

    pack = evidence.write_pack(run(), Path(sys.argv[1]), history_path=Path(sys.argv[1]) / "history.jsonl")
    print(pack.directory)
