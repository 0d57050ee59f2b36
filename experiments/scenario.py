"""What every experiment shares: its vantage points, its probes, waiting, and the verdict.

An experiment file reads as the game-day runbook:

    with scenario.observe(checkout=True, canary=True):
        scenario.steady_state()
        with scenario.inject(faults.rds.RebootWithFailover, region=..., db_instance_identifier=...):
            scenario.wait_until(...)
    verdict = scenario.judge("multi_az_failover")

Probes start before the fault and stop after the rollback, so the samples cover the whole story.
Sampling rates are in AWS-equivalent seconds and scaled like every other AWS timing.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from environments import scenarios as scenarios_
from environments.model import AwsEnvironment, LocalEnvironment, ScenarioSLO
from faults.base import Fault
from base import clock, net
from base.deadline import DeadlineExceeded, until
from base.errors import EnvironmentFileError
from faults.journal import Journal
from base.milestone import Milestone
from base.timeline import Event, Timeline
from base.timescale import TimeScale
from probes import (
    catalog as catalog_probe, checkout as checkout_probe, dns as dns_probe, slo, state as state_probe, traces as traces_probe,
)
from probes.canary import Canary, ReadBack
from probes import metrics as metrics_
from probes.sampler import Sample, Sampler
from stack.handles import ReferenceStack

T = TypeVar("T")
SAMPLE_INTERVAL_AWS_S = 2.0  # one probe sample every 2 AWS seconds (0.2 s wall at time_scale 0.1)
METRICS_FLUSH_AWS_S = 2.5  # the probes' CloudWatch metrics are sent every 2.5 AWS seconds (a quarter of a high-resolution period)
# How long the canary's read-back keeps re-reading orders it could not read (a 5xx, a timeout) before the RPO is
# unknown: a read right after a failover may fail while the order is safe (a pool still reconnecting, a cached
# endpoint), which settles in seconds; an order still unreadable after a minute is not a transient.
READ_BACK_RETRY_AWS_S = 60.0


def probe_timeouts(scale: TimeScale) -> tuple[float, float]:
    """A checkout probe's (connect, read) timeouts in wall seconds.

    Connect: half a sample interval (1 s on AWS, where a handshake takes one RTT, < 0.3 s). Each probe
    opens a new connection, so a cut-off address fails here, before the next sample is due: the RTO
    is resolved to one interval. Read: 20 AWS seconds, at least 1 s, since network delay is never
    scaled (a cross-Region request with its database calls takes ~0.5 s).
    """
    return scale.to_wall(SAMPLE_INTERVAL_AWS_S / 2), scale.timeout(20, floor=1.0)


@dataclass(frozen=True)
class ProbeOrigin:
    """Where the probes stand for one of the environment's vantage points: its client subnet and the
    local address they send from."""

    name: str
    subnet: str
    continent: str
    source_address: str | None  # None on AWS: a probe cannot borrow a remote user's address


@dataclass
class Scenario:
    name: str
    environment: LocalEnvironment | AwsEnvironment
    stack: ReferenceStack
    clients: Callable[[str, str], Any]
    authoritative: tuple[str, int]
    journal: Journal
    timeline: Timeline
    nameserver: tuple[str, int] | None = None  # where the stack's clients resolve RDS endpoints (None: the system's)
    samplers: list[Sampler[Any]] = field(default_factory=list)
    canary: Canary | None = None
    metrics: metrics_.Publisher | None = None  # the probes' CloudWatch metrics (probes.metrics), while observing
    injected_at: clock.Instant | None = None
    faults: list[Fault] = field(default_factory=list)
    verdict: slo.Verdict | None = None
    _read_back: ReadBack | None = None
    _canary_vantage: str = ""
    traces: traces_probe.TraceEvidence | None = None

    # -- who and how often -----------------------------------------------------------------------

    @property
    def timescale(self) -> TimeScale:
        return self.environment.timescale

    @property
    def interval_s(self) -> float:
        return self.timescale.to_wall(SAMPLE_INTERVAL_AWS_S)

    def vantage_points(self) -> list[ProbeOrigin]:
        local = isinstance(self.environment, LocalEnvironment)
        return [ProbeOrigin(name, vp.subnet, vp.continent, net.vantage_address(vp.subnet) if local else None)
                for name, vp in self.environment.vantage_points.items()]

    def vantage(self, name: str) -> ProbeOrigin:
        return next(v for v in self.vantage_points() if v.name == name)

    def client(self, vantage: ProbeOrigin, name: str | None = None) -> checkout_probe.Client:
        resolver = checkout_probe.Resolver(name or self.stack.names.checkout, *self.authoritative, vantage.subnet)
        return checkout_probe.Client(resolver, self.environment.stack.checkout_port, vantage.source_address,
                                     *probe_timeouts(self.timescale))

    def region_of(self, address: str) -> str:
        for instance in self.stack.instances:
            if instance.private_ip == address:
                return instance.region
        return "unknown"

    def resolve(self, vantage: ProbeOrigin, name: str | None = None) -> dns_probe.Answer:
        return dns_probe.query(name or self.stack.names.checkout, *self.authoritative, client_subnet=vantage.subnet)

    # -- probes ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def observe(self, *, dns: bool = True, checkout: bool = True, canary: bool = False, replica_lag: bool = False,
                vantage: list[str] | None = None, path: str = "/products",
                catalog: str | None = None) -> Iterator["Scenario"]:
        """Run the probes in the background for the duration of the block (``catalog``: a product's sku, read
        by the catalog probe from each vantage point)."""
        chosen = [v for v in self.vantage_points() if vantage is None or v.name in vantage]
        if replica_lag and self.stack.replica is not None:
            # CloudWatch has a datapoint a minute: polling it every 5 samples is plenty.
            self.samplers.append(state_probe.lag_sampler(self.clients, self.stack.replica.region,
                                                         self.stack.replica.identifier, 5 * self.interval_s,
                                                         within_s=self.timescale.to_wall(300)))
        for point in chosen:
            if dns:
                self.samplers.append(dns_probe.sampler(self.stack.names.checkout, *self.authoritative, point.name,
                                                       point.subnet, self.interval_s))
            if checkout:
                self.samplers.append(self.checkout_sampler(self.client(point), point.name, path))
            if catalog is not None:
                self.samplers.append(catalog_probe.sampler(self.client(point), point.name, catalog, self.interval_s))
        if canary:
            self.canary = Canary(self.client(chosen[0]), self.interval_s)
            self._canary_vantage = chosen[0].name
        for sampler in self.samplers:
            sampler.start()
        if self.canary is not None:
            self.canary.start()
        self.publishing()
        self.timeline.record("note", "probes started", samplers=[f"{s.name}@{s.source}" for s in self.samplers],
                             interval_s=self.interval_s, canary=canary)
        try:
            yield self
        finally:
            for sampler in self.samplers:
                sampler.stop()
            if self.canary is not None:
                self.canary.stop()
            self.stop_publishing()
            self.timeline.record("note", "probes stopped")

    def publishing(self) -> metrics_.Publisher:
        """The probes' CloudWatch publisher, started on first use (probes.metrics)."""
        if self.metrics is None:
            regions = frozenset(self.environment.regions)
            home = self.stack.instances[0].region if self.stack.instances else sorted(regions)[0]
            self.metrics = metrics_.Publisher(lambda region: self.clients("cloudwatch", region),
                                              self.timescale.to_wall(METRICS_FLUSH_AWS_S), regions, home).start()
            try:  # the game day's dashboard: the same graphs, live, in the CloudWatch console (or GetDashboard)
                name = metrics_.put_dashboard(self.clients("cloudwatch", home), self.environment.name, sorted(regions))
                self.timeline.record("note", "CloudWatch dashboard", dashboard=name, region=home)
            except Exception as error:  # noqa: BLE001 - a missing dashboard does not stop a game day
                self.timeline.record("note", f"CloudWatch dashboard not written: {error}")
        return self.metrics

    def stop_publishing(self) -> None:
        """Send what is left, then read back each Region's series for the report (CloudWatch's own figures)."""
        if self.metrics is None:
            return
        published, self.metrics = self.metrics, None
        published.stop()
        series: dict[str, list[list[float | None]]] = {}
        if published.first_s is not None and published.last_s is not None:
            for region in sorted(published.regions_sent):
                try:
                    series[region] = metrics_.read_series(self.clients("cloudwatch", region), region,
                                                          published.first_s, published.last_s)
                except Exception as error:  # noqa: BLE001 - a graph the report lacks is not a failed experiment
                    self.timeline.record("note", f"CloudWatch series of {region} not read: {error}")
        self.timeline.record("note", "checkout metrics published", namespace=metrics_.NAMESPACE,
                             metric_data=published.sent, failed_calls=published.failures, cloudwatch_series=series)

    def checkout_sampler(self, client: checkout_probe.Client, vantage: str,
                         path: str = "/products") -> Sampler[checkout_probe.Response]:
        """A checkout sampler whose every sample is also published to CloudWatch (per Region and vantage point)."""
        def publish(sample: Sample[checkout_probe.Response]) -> None:
            response = sample.value
            address = response.address if response is not None else checkout_probe.last_address(client)
            region = (response.region if response is not None and response.region else
                      self.region_of(address) if address else "unknown")
            # Latency is how long the user waited: a 5xx or a timeout counts with its duration.
            self.publishing().record(metrics_.Observation(
                sample.at.wall_time, region, vantage, response.latency_ms if response is not None else sample.duration_ms,
                sample.ok))

        return checkout_probe.sampler(client, vantage, self.interval_s, path, listener=publish)

    def samples(self, prefix: str) -> list[Sample[Any]]:
        """Samples of every sampler named ``prefix``…; "canary" gives the canary's order attempts as samples."""
        if prefix == "canary":
            if self.canary is None:
                return []
            return [Sample(a.at, self._canary_vantage, a.ok, None, a.error) for a in list(self.canary.attempts)]
        # Settled samples only: a read still in flight may yet land among the later ones and change a verdict.
        return [s for sampler in self.samplers if sampler.name.startswith(prefix) for s in sampler.settled()]

    # -- the runbook's verbs ---------------------------------------------------------------------

    def wait_until(self, condition: Callable[[], T], what: str, timeout_aws_s: float) -> T:
        """Poll ``condition`` until it returns something truthy; fail naming ``what`` after the deadline."""
        try:
            # The system is allowed to be broken while we wait: an exception is an observation.
            value = until(condition, self.timescale.to_wall(timeout_aws_s), what, self.interval_s, ignore=(Exception,),
                          accept=lambda v: v and not isinstance(v, Exception))
        except DeadlineExceeded as timeout:
            raise AssertionError(f"waited {timeout_aws_s:.0f} AWS-s ({self.timescale.to_wall(timeout_aws_s):.1f} s) for {what}; "
                                 f"last observation: {timeout.last!r}") from None
        self.timeline.record("state", what)
        return value

    def hold(self, prefix: str, predicate: Callable[[Sample[Any]], bool], what: str, timeout_aws_s: float) -> None:
        """Wait until ``predicate`` has held for every ``prefix`` sample of the last stability window."""
        window_s = self.timescale.to_wall(self.environment.slos.stability_window_s)

        def held() -> bool:
            # The same rule slo.rto applies: the good stretch since the last bad sample spans the window.
            samples = sorted(self.samples(prefix), key=lambda s: s.at.monotonic_s)
            bad = [i for i, s in enumerate(samples) if not predicate(s)]
            start = bad[-1] + 1 if bad else 0
            return start < len(samples) and samples[-1].at.monotonic_s - samples[start].at.monotonic_s >= window_s

        self.wait_until(held, f"{what}, held for {self.environment.slos.stability_window_s:.0f} AWS-s", timeout_aws_s)

    def steady_state(self, timeout_aws_s: float = 300) -> None:
        """Every checkout sampler's latest sample is good (the state RTO measures the return to)."""
        def healthy() -> bool:
            settled = [s.settled() for s in self.samplers if s.name.startswith("checkout")]
            latest = [samples[-1] for samples in settled if samples]
            return bool(latest) and all(sample.ok for sample in latest)

        self.wait_until(healthy, "steady state: checkout answers from every vantage point", timeout_aws_s)

    def database_available(self, timeout_aws_s: float = 600) -> state_probe.DbState:
        """The orders database as RDS describes it once it is 'available'.

        An automatic failover that an earlier experiment's fault set off goes on after that experiment ends.
        Until it is over, where the primary is (which AZ a fault aims at) is about to change."""
        database = self.stack.database
        assert database is not None, "this stack has no orders database"

        def available() -> state_probe.DbState | None:
            now = state_probe.db_state(self.clients, database.region, database.identifier)
            return now if now.status == "available" else None

        found = self.wait_until(available, "the orders database is available", timeout_aws_s)
        assert found is not None  # wait_until returns only a truthy observation
        return found

    def mark(self, milestone: Milestone | str, what: str, **details: Any) -> Event:
        """Record ``what`` happened now as a state event that marks ``milestone`` (one of base.milestone.Milestone).

        For what the samples cannot show. A milestone the evidence measures (detection from the probes, failover
        from DNS answers, recovery from the RTO) is not replaced by a mark: the evidence names the mark and why."""
        return self.timeline.record("state", what, milestone=Milestone.parse(milestone, f"scenario.mark({what!r})"),
                                    **details)

    @contextlib.contextmanager
    def inject(self, fault_class: type[Fault], **params: Any) -> Iterator[Fault]:
        fault = fault_class(self.clients, self.journal, timeline=self.timeline, **params)
        self.faults.append(fault)
        with fault:
            # RTO starts when the fault's injection began (its first API call), as the timeline dates it.
            self.injected_at = self.timeline.of_kind("fault_injected")[-1].at
            yield fault

    # -- the verdict -----------------------------------------------------------------------------

    def judge(self, scenario: str, source: str = "checkout", what: str = "checkout",
              samples: list[Sample[Any]] | None = None) -> slo.Verdict:
        """RTO from ``samples`` (default: every sampler whose name starts with ``source``), RPO from the canary."""
        assert self.injected_at is not None, "judge() needs a fault injected with inject()"
        objective = self.environment.slos.scenarios.get(scenario)
        if objective is None:
            raise EnvironmentFileError(scenarios_.objective_missing(scenario, self.environment.slos.scenarios,
                                                                   self.environment.source))
        measured_rto = slo.rto(self.samples(source) if samples is None else samples, self.injected_at,
                               self.environment.slos.stability_window_s, self.timescale)
        measured_rpo = self.read_back()
        verdict = slo.judge(scenario, measured_rto, measured_rpo, objective, what)
        self.verdict = verdict
        self.timeline.record("verdict", scenario, passed=verdict.passed, messages=list(verdict.messages),
                             rto_aws_s=measured_rto.aws_s, rto_wall_s=measured_rto.wall_s,
                             lost_orders=None if measured_rpo is None else measured_rpo.lost_orders)
        return verdict

    def read_back(self) -> slo.Rpo | None:
        """The canary's read-back of every acknowledged order, as an RPO (None without a canary). Orders it
        cannot read are read again for READ_BACK_RETRY_AWS_S; any still unreadable make the RPO unknown."""
        if self.canary is None:
            return None
        self._read_back = self.canary.read_back(self.timescale.to_wall(READ_BACK_RETRY_AWS_S), self.interval_s)
        return slo.rpo(self._read_back, self.interval_s, self.timescale)

    def judge_steady_state(self, scenario: str, problems: list[str]) -> slo.Verdict:
        """A verdict for an experiment without a fault (Lab 1): every problem found is a breach."""
        self.verdict = slo.Verdict(scenario, not problems, None, None, ScenarioSLO(rto_s=0), tuple(problems))
        self.timeline.record("verdict", scenario, passed=self.verdict.passed, messages=list(problems))
        return self.verdict

    def judge_measured(self, scenario: str, measured: list[slo.Measured], problems: list[str]) -> slo.Verdict:
        """A verdict from figures measured against their objectives (the catalog's staleness and convergence):
        every figure over its objective, and every problem found, is a breach."""
        self.verdict = slo.judge_measured(scenario, measured, problems)
        self.timeline.record("verdict", scenario, passed=self.verdict.passed, messages=list(self.verdict.messages),
                             measured=[{"name": m.name, "title": m.title, "aws_s": m.aws_s, "slo_s": m.slo_s}
                                       for m in measured])
        return self.verdict

    def judge_invariants(self, scenario: str, broken: list[str]) -> slo.Verdict:
        """A verdict for a schedule of faults (the chaos suite): no single injection, so no RTO; every invariant
        broken is a breach, and the canary's read-back of every acknowledged order gives the RPO."""
        # Without an SLO of its own, a schedule of Multi-AZ faults must lose nothing.
        objective = self.environment.slos.scenarios.get(scenario, ScenarioSLO(rto_s=0, rpo_s=0, lost_orders=0))
        measured_rpo = self.read_back()
        judged = slo.judge(scenario, None, measured_rpo, objective, "orders")
        messages = tuple(broken) + judged.messages
        self.verdict = slo.Verdict(scenario, not messages, None, measured_rpo, objective, messages)
        self.timeline.record("verdict", scenario, passed=self.verdict.passed, messages=list(messages),
                             lost_orders=None if measured_rpo is None else measured_rpo.lost_orders)
        return self.verdict

    def bottleneck(self, label: str = "the fault") -> traces_probe.TraceEvidence:
        """Name, from X-Ray's traces, what dominated checkout's latency in the fault window; recorded as a note.

        The window runs from the injection to the recovery the verdict measured (to now when it has none).
        Call it after ``judge``. Missing traces never fail the experiment: the evidence says why.
        """
        assert self.injected_at is not None, "bottleneck() needs a fault injected with inject()"
        start_s = self.injected_at.wall_time
        rto = self.verdict.rto if self.verdict is not None else None
        end_s = start_s + rto.wall_s if rto is not None and rto.wall_s else clock.now().wall_time
        end_s = max(end_s, start_s + self.interval_s)
        self.traces = traces_probe.collect(self.clients, sorted(self.environment.regions), start_s, end_s, label)
        found = self.traces.bottleneck
        self.timeline.record("note", self.traces.sentence, traces=self.traces.traces,
                             bottleneck=found[0] if found else None,
                             share=round(found[1], 3) if found else None)
        return self.traces

    # -- the evidence ----------------------------------------------------------------------------

    def result(self, title: str, runbook: str = "", markers: tuple[str, ...] = (), nodeid: str = "",
               error: BaseException | None = None) -> Any:
        """This experiment as an experiments.result.ScenarioResult (the evidence pack's unit)."""
        from experiments import result as result_

        canary = self.canary
        return result_.ScenarioResult(
            scenario=self.verdict.scenario if self.verdict else self.name,
            title=title, fault=", ".join(sorted({f.name for f in self.faults})) or "none",
            targets=tuple(t for f in self.faults for t in f.targets()), timeline=self.timeline, verdict=self.verdict,
            dns=tuple(self.samples("dns")), checkout=tuple(self.samples("checkout")),
            catalog=tuple(self.samples("catalog")),
            canary_attempts=tuple(canary.attempts) if canary else (), canary_acks=tuple(canary.acks) if canary else (),
            read_back=self._read_back, traces=self.traces, runbook=runbook, markers=markers, nodeid=nodeid,
            error="" if error is None else f"{type(error).__name__}: {error}",
            error_kind="" if error is None else result_.error_kind(error))
