"""Direct Connect loss: the warehouse's VIF is cut while it sends inventory transactions; the VPN takes over.

The warehouse (a site outside AWS) sends transactions to the inventory API in us-west-2 over Direct
Connect, with a Site-to-Site VPN as its backup. The fault is ``directconnect.disconnect_vif`` (the BGP
failover test FIS's aws:directconnect:virtual-interface-disconnect runs): the VIF's BGP session goes
down. BGP moves the traffic to the VPN once it notices: after BFD's detection time (300 ms x 3) when the
warehouse router runs BFD, after the BGP hold time (90 s) when it does not. The experiment runs once
each way. The transaction in flight stalls meanwhile and is acknowledged over the VPN (its held bytes, or
the client's retry); the VPN's latency is higher. When the VIF returns, traffic fails back.

Judged: the RTO of each run (from the fault to the first acknowledgement after it) against the SLO
``dx_loss``, and no acknowledged transaction missing from the inventory. Shown: the time BGP's model
predicts, and the median latency over Direct Connect, over the VPN, and after failback.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from environments import warehouse as addresses
from environments.model import LocalEnvironment
from experiments.scenario import Scenario
from faults.directconnect import DisconnectVif
from probes import warehouse as warehouse_probe
from probes.slo import Measured
from stack import hybrid

RATE_PER_S = 10.0
SAMPLES = 8  # transactions acknowledged at their first attempt on each path (before, during, after)


def _warehouse(environment: LocalEnvironment, site: str) -> warehouse_probe.Warehouse:
    control = addresses.warehouse_address(environment, site)
    return warehouse_probe.Warehouse(control, (control[0], addresses.ROUTER_PORT),
                                     addresses.inventory_address(environment, site))


def _run(scenario: Scenario, warehouse: warehouse_probe.Warehouse, link: Any, bfd: bool) -> dict[str, Any]:
    """One cut of the VIF with BFD on or off; the figures of that run (wall times)."""
    warehouse.set_bfd(link.dx_link, bfd)
    started = time.time()
    warehouse.start(RATE_PER_S)

    def clean_acks(since: float) -> int:
        """Transactions first sent after ``since`` and acknowledged at their first attempt: the path carries."""
        return sum(1 for a in warehouse.acks() if a.sent_at >= since and a.attempts == 1)

    try:
        scenario.wait_until(lambda: clean_acks(started) >= SAMPLES,
                            "steady state: transactions acknowledged over Direct Connect", 300)
        with scenario.inject(DisconnectVif, region=link.region, virtual_interface_id=link.virtual_interface_id):
            cut = time.time()
            first = scenario.wait_until(lambda: warehouse_probe.first_ack_after(warehouse.acks(), cut),
                                        "a transaction acknowledged after the cut", 300)
            assert first is not None
            moved = first.acked_at
            scenario.wait_until(lambda: clean_acks(moved) >= SAMPLES, "transactions over the VPN", 300)
        failback = time.time()
        scenario.wait_until(lambda: clean_acks(failback) >= SAMPLES, "transactions after failback", 300)
    finally:
        warehouse.stop()  # whatever happened: the service must not keep sending after the experiment
    acks = warehouse.acks()
    return {"bfd": bfd, "cut": cut, "first_ack_after_s": moved - cut, "retries": sum(a.attempts - 1 for a in acks
                                                                                     if a.sent_at >= started),
            "dx_ms": warehouse_probe.median_latency_ms(acks, started, cut),
            "vpn_ms": warehouse_probe.median_latency_ms(acks, moved, failback),
            "failback_ms": warehouse_probe.median_latency_ms(acks, failback, time.time())}


@pytest.mark.gameday
@pytest.mark.hybrid
def test_direct_connect_loss_moves_the_warehouse_to_the_vpn(scenario: Scenario) -> None:
    """Cut the warehouse's VIF with BFD and without: the VPN carries on, within the SLO, nothing acknowledged lost."""
    environment = scenario.environment
    if not isinstance(environment, LocalEnvironment):
        pytest.skip("the warehouse service and its site run on the local stack; on AWS the team's own estate runs them")
    site = addresses.warehouse_site(environment)
    if site is None:
        pytest.skip("the environment declares no warehouse site with links (environments: sites)")
    objective = environment.slos.scenarios.get("dx_loss")
    [link] = [h for h in hybrid.ensure(environment, scenario.clients, [{"Key": "gameday:stack", "Value": "securecart"}])
              if h.site == site]
    assert link.dx_link is not None and link.virtual_interface_id is not None, f"{site} has no Direct Connect link"
    dx = environment.sites[site].links[link.dx_link.split("/", 1)[1]]
    warehouse = _warehouse(environment, site)
    try:
        runs = [_run(scenario, warehouse, link, bfd) for bfd in (True, False)]
    finally:
        warehouse.set_bfd(link.dx_link, dx.bfd)  # the router as the environment declares it

    stored, duplicates = warehouse.stored()
    missing = warehouse_probe.lost(warehouse.acks(), stored)
    problems = [f"{len(missing)} acknowledged transactions are not in the inventory: {missing[:5]}"] if missing else []
    if objective is None:
        problems.append("the environment sets no slos.scenarios.dx_loss to judge by")
    scale = scenario.timescale
    measured = []
    for run in runs:
        how = "BFD" if run["bfd"] else "BGP hold time"
        model_aws_s = dx.detection_s(run["bfd"])
        measured.append(Measured("dx_loss", f"RTO with {how}", "rto", run["first_ack_after_s"],
                                 scale.to_aws(run["first_ack_after_s"]), objective.rto_s if objective else None,
                                 f"BGP's model: {model_aws_s:g} AWS-s; {run['retries']} client retries"))
        for key, what in (("dx_ms", "over Direct Connect"), ("vpn_ms", "over the VPN"),
                          ("failback_ms", "after failback")):
            if run[key] is None:
                problems.append(f"run with {how}: no transaction acknowledged at its first attempt {what}")
    scenario.timeline.record("state", "dx loss figures", lost=len(missing), duplicates_recognised=duplicates,
                             runs=[{k: v for k, v in run.items() if k != "cut"} for run in runs])
    verdict = scenario.judge_measured("dx_loss", measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
