"""Global Accelerator vs DNS: the same Region loss, seen by the same users through both front doors.

Virginia's users reach checkout two ways at once, sampled side by side:

- **through Route 53**: ``checkout.<zone>`` (latency records with health checks), resolved from
  virginia's subnet and cached for the record's TTL, like a stub resolver;
- **through Global Accelerator**: one of the accelerator's two static addresses, no DNS at all.

us-east-1 is then isolated (every subnet's network ACL denies all traffic). Both paths detect the
loss from health checks of the same interval and threshold (the builder gives both the stack's
settings), so the difference is what comes after detection:

- Route 53 changes its answer once the checks fail, but a client keeps the answer it cached for up
  to the record's TTL (resolvers often hold it longer): RTO ≈ interval × threshold + TTL at worst.
  Virginia's resolver resolves afresh just before the loss, so its answer has its whole TTL to run:
  the case a TTL is there for (a client whose answer is older moves sooner, on average half a TTL);
  its RTO is then at least the TTL, whatever the detection;
- the accelerator routes every new connection to the nearest healthy endpoint group as soon as the
  checks fail, on the same two addresses: RTO ≈ interval × threshold. No TTL, nothing to flush.

The report carries both RTOs, with their promises, and this explanation.
"""
from __future__ import annotations

import pytest

from environments.model import LocalEnvironment
from experiments.scenario import SAMPLE_INTERVAL_AWS_S, Scenario, probe_timeouts
from faults.network import IsolateRegion
from probes import checkout as checkout_probe
from probes import slo
from probes.sampler import Sample, Sampler
from stack import accelerator
from stack.builder import BuildOptions

FAILED_REGION = "us-east-1"
PATH = "/products"
ACCELERATOR_SLO = "accelerator_vs_dns"
DNS_SLO = "route53_failover"


class StaticAddress(checkout_probe.Resolver):
    """A 'resolver' that always gives the accelerator's static address: the client never asks DNS."""

    def __init__(self, address: str, name: str) -> None:
        super().__init__(name, address, 0, None)
        self.static = address

    def address(self) -> str:
        return self.static


def served_from(sample: Sample[checkout_probe.Response]) -> str:
    return sample.value.region if sample.ok and sample.value is not None and sample.value.region else "none"


def away(sample: Sample[checkout_probe.Response]) -> bool:
    return served_from(sample) not in (FAILED_REGION, "none")


@pytest.mark.gameday
@pytest.mark.edge
@pytest.mark.region
def test_accelerator_fails_over_before_dns_under_a_region_loss(scenario: Scenario) -> None:
    """Isolating us-east-1: the accelerator's static address moves virginia within the health checks' detection,
    Route 53's name only after the TTL as well."""
    env, stack = scenario.environment, scenario.stack
    settings = env.stack
    # Built with the stack (BuildOptions.accelerator); attached to (--attach), it is looked up by its tags.
    addresses = stack.extra.get("accelerator_addresses") or accelerator.existing(
        scenario.clients, BuildOptions().stack_name, settings.checkout_port).get("accelerator_addresses", "")
    if not addresses and not isinstance(env, LocalEnvironment):
        pytest.skip("no Global Accelerator in front of this stack: the builder makes one on the local stack only")
    assert addresses, "the reference stack has no Global Accelerator: build it with BuildOptions(accelerator=True)"
    detection_aws_s = settings.health_check_interval_s * settings.health_check_failure_threshold
    promised = {"accelerator": detection_aws_s, "dns": detection_aws_s + settings.record_ttl_s}
    budget_aws_s = promised["dns"] + 3 * env.slos.stability_window_s
    home = scenario.vantage("virginia")
    static = addresses.split(",")[0]
    accelerated = checkout_probe.Client(StaticAddress(static, stack.names.checkout), settings.checkout_port,
                                        home.source_address, *probe_timeouts(scenario.timescale))
    sampler = Sampler(f"accelerator:{PATH}", home.name, lambda: accelerated.get(PATH), scenario.interval_s,
                      ok=lambda r: 200 <= r.status < 300)
    subnets = [s.subnet_id for s in stack.subnets if s.region == FAILED_REGION]

    by_name = scenario.client(home)  # the DNS path, its answer cached for the TTL like a stub resolver

    with scenario.observe(vantage=[home.name], dns=False, checkout=False):
        # Started here, stopped with the others when observing ends.
        scenario.samplers.append(scenario.checkout_sampler(by_name, home.name, PATH).start())
        scenario.samplers.append(sampler.start())
        scenario.steady_state()
        scenario.hold("accelerator", lambda s: served_from(s) == FAILED_REGION,
                      "virginia's accelerated checkout served from us-east-1", 60)
        assert served_from(scenario.samples("checkout")[-1]) == FAILED_REGION, "virginia must start in us-east-1"
        by_name.resolver.forget()  # a fresh answer (us-east-1: nothing has failed yet), held for the whole TTL
        with scenario.inject(IsolateRegion, region=FAILED_REGION, subnet_ids=subnets):
            scenario.hold("accelerator", away, "virginia's accelerated checkout served from another Region", budget_aws_s)
            scenario.hold("checkout", away, "virginia's checkout by DNS name served from another Region", budget_aws_s)
            moved = {"accelerator": served_from(scenario.samples("accelerator")[-1]),
                     "dns": served_from(scenario.samples("checkout")[-1])}
            # RTOs are measured up to here: once the rollback starts, both paths may move back to us-east-1.
            held = scenario.timeline.record("state", "both paths held outside us-east-1; rolling back").at
        scenario.wait_until(lambda: served_from(scenario.samples("checkout")[-1]) == FAILED_REGION,
                            "virginia's checkout by DNS name back in us-east-1 (failback)", budget_aws_s)

    assert scenario.injected_at is not None
    rtos = {}
    for name, prefix in (("accelerator", "accelerator"), ("dns", "checkout")):
        during = [Sample(s.at, s.source, away(s), s.value) for s in scenario.samples(prefix)
                  if s.at.monotonic_s < held.monotonic_s]
        rtos[name] = slo.rto(during, scenario.injected_at, env.slos.stability_window_s, scenario.timescale)
    objectives = env.slos.scenarios
    why = (f"both detect the loss from health checks every {settings.health_check_interval_s} s, "
           f"{settings.health_check_failure_threshold} failures in a row ({detection_aws_s} s)")
    measured = [
        slo.Measured("rto_s", "through Global Accelerator (static address, no DNS)", "rto",
                     rtos["accelerator"].wall_s, rtos["accelerator"].aws_s,
                     objectives[ACCELERATOR_SLO].rto_s if ACCELERATOR_SLO in objectives else None,
                     f"{why}; the accelerator then sends every new connection to the nearest healthy Region "
                     f"({moved['accelerator']}) on the same address: promised {promised['accelerator']} s, plus up to "
                     f"one probe read timeout ({scenario.timescale.to_aws(probe_timeouts(scenario.timescale)[1]):.0f} s) "
                     "for the request that was on its way to us-east-1 when the checks flipped"),
        slo.Measured("rto_s", "through Route 53 (DNS name, answer cached for its TTL)", "",
                     rtos["dns"].wall_s, rtos["dns"].aws_s,
                     objectives[DNS_SLO].rto_s if DNS_SLO in objectives else None,
                     f"{why}; Route 53 then answers {moved['dns']}, but virginia's resolver, which had just "
                     f"resolved, keeps the us-east-1 answer until its {settings.record_ttl_s} s TTL runs out (real "
                     f"resolvers may keep it longer): at least the TTL, at most detection + TTL = {promised['dns']} s"),
    ]
    problems = []
    if moved["accelerator"] != moved["dns"]:
        problems.append(f"the two paths chose different Regions: accelerator {moved['accelerator']}, DNS {moved['dns']}")
    tolerance = SAMPLE_INTERVAL_AWS_S + 2 * scenario.timescale.to_aws(probe_timeouts(scenario.timescale)[1])
    for name in ("accelerator", "dns"):
        rto = rtos[name].aws_s
        if rto is None or rto > promised[name] + tolerance:
            problems.append(f"{name}: RTO {rto} s is past its promise {promised[name]} s (+{tolerance:.0f} s of "
                            f"sampling and request timeouts)")
    accelerator_rto, dns_rto = rtos["accelerator"].aws_s, rtos["dns"].aws_s
    if accelerator_rto is not None and dns_rto is not None and not accelerator_rto < dns_rto:
        problems.append(f"the accelerator ({accelerator_rto} s) did not recover before DNS ({dns_rto} s)")
    verdict = scenario.judge_measured(ACCELERATOR_SLO, measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
