"""Store offline: a retail store's uplink fails and its Outpost loses the service link to us-east-1.

The store's till rings up a sale at the point of sale on the store's Outpost every sample, from the
store's own network, the whole time. The site action cuts the store's uplink (locally a fabric cut of
the service link; on a real estate the team's command) for the action's duration (an hour as the drill;
the local environment runs a shorter one, see environments/local.yaml). While it is cut, as AWS
documents for a disconnected Outpost:
- the store keeps selling: every sale is acknowledged at the till, from local stock;
- launching an instance on the Outpost fails (the Region cannot reach the rack);
- the sales stay in the store (the cloud's sales ledger receives none of them).
After the link returns, every acknowledged sale must reach the ledger within the SLO
(``slos.scenarios.store_offline.rto_s``), each exactly once: the POS retries with the sale's id as its
idempotency key, so a retry after a lost acknowledgement is not counted twice.
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from base import clock
from base.milestone import Milestone
from environments.model import LocalEnvironment
from environments.outposts import POS_PORT, pos_address
from experiments.scenario import Scenario
from faults.site import SiteAction
from probes import store as store_probe
from probes.slo import Measured
from stack import ami

OUTPOST = "store-nyc"
SCENARIO = "store_offline"
TILL_TIMEOUT_S = 5.0  # wall seconds a till waits for the POS on the store's LAN (a busy machine can be slow)


def _offline_action(scenario: Scenario, site: str) -> str:
    for name, action in scenario.environment.site_actions.items():
        if action.site == site and "service_link" in action.links:
            return name
    pytest.skip(f"the environment declares no site action that cuts {site}'s service link (site_actions)")


def _outpost_subnet(scenario: Scenario, region: str, zone: str, arn: str) -> tuple[str, str]:
    """A subnet on the Outpost in the Region's default VPC, and an image to launch there: (subnet id, image id)."""
    ec2 = scenario.clients("ec2", region)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    cidr = ipaddress.IPv4Network(vpc["CidrBlock"])
    block = ipaddress.IPv4Network((int(cidr.network_address) + 200 * 256, 24))  # <VPC>.200.0/24, past the AZ subnets
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=str(block), AvailabilityZone=zone, OutpostArn=arn)["Subnet"]
    assert subnet.get("OutpostArn") == arn, f"the subnet does not show its OutpostArn: {subnet}"
    image = ami.image_id(scenario.clients("ssm", region), ec2, "t3.micro", region)
    return str(subnet["SubnetId"]), image


def _launch(ec2: Any, subnet_id: str, image: str) -> str:
    """Launch one instance on the Outpost and terminate it: '' when it launched, else the error code."""
    try:
        found = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet_id)
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in found["Instances"]])
    return ""


@pytest.mark.gameday
@pytest.mark.hybrid
def test_a_store_keeps_selling_while_its_outpost_is_offline(scenario: Scenario, gameday_local_stack: Any) -> None:
    """The store sells through an outage of its Outpost's service link; every sale reaches the cloud once, within the SLO."""
    env = scenario.environment
    if OUTPOST not in env.outposts:
        pytest.skip(f"the environment declares no Outpost {OUTPOST!r} (outposts)")
    outpost = env.outposts[OUTPOST]
    site = env.sites[outpost.site]
    action = _offline_action(scenario, outpost.site)
    duration_aws_s = env.site_actions[action].duration_s
    local = isinstance(env, LocalEnvironment)
    # A till at the store: an address of the store's own range, on the local stack (the POS's LAN).
    till = store_probe.Till(pos_address(site), POS_PORT, str(site.network.network_address + 200) if local else None,
                            timeout_s=TILL_TIMEOUT_S)
    ledger_host, ledger_port = str(till.status()["ledger"]).rsplit(":", 1)
    virginia = scenario.vantage("virginia").source_address  # the ledger is read from the Region's users' side

    def ledger() -> store_probe.LedgerView:
        return store_probe.ledger(ledger_host, int(ledger_port), OUTPOST, virginia)

    ec2 = scenario.clients("ec2", outpost.region)
    subnet_id, image = _outpost_subnet(scenario, outpost.region, outpost.availability_zone, outpost.arn(env.account_id))
    problems: list[str] = []
    extra: dict[str, Any] = {}
    params: dict[str, Any] = {"environment": env, "action": action}
    if local:
        params["local_instance"] = gameday_local_stack.instance
    try:
        before = _launch(ec2, subnet_id, image)
        if before:
            problems.append(f"launching on Outpost {outpost.outpost_id} failed before the outage: {before}")
        sales = store_probe.sampler(till, OUTPOST, scenario.interval_s)
        with scenario.observe(dns=False, checkout=False, vantage=[]):
            scenario.samplers.append(sales)  # into the evidence with the others; stopped with them too
            sales.start()
            scenario.wait_until(lambda: len(store_probe.acknowledged(sales.samples)) >= 3 and
                                set(ledger().counts) >= {sid for sid, _ in store_probe.acknowledged(sales.samples)[:3]},
                                "steady state: the store sells and its sales reach the cloud", 120)
            with scenario.inject(SiteAction, **params):
                cut_at = clock.now()
                offline_until = time.monotonic() + scenario.timescale.to_wall(duration_aws_s)
                during = _launch(ec2, subnet_id, image)
                extra["launch_while_offline"] = during or "launched"
                if not during:
                    problems.append(f"an instance launched on Outpost {outpost.outpost_id} while its service link was down")
                scenario.wait_until(lambda: time.monotonic() >= offline_until,
                                    f"the store offline for {duration_aws_s:g} AWS-s", duration_aws_s * 2)
                in_cloud = ledger()  # read from the Region: reachable, only the store is cut off
                # The link returns during the rollback command: the sync is timed from the rollback's start
                # (an upper bound that includes the command's own run time).
                restoring_at = clock.now()
            restored_at = scenario.timeline.of_kind("fault_rolled_back")[-1].at
            sold_offline = [sid for sid, at in store_probe.acknowledged(sales.samples)
                            if cut_at.monotonic_s <= at.monotonic_s < restored_at.monotonic_s]
            crossed = [sid for sid in sold_offline if sid in in_cloud.counts]
            if crossed:
                problems.append(f"{len(crossed)} sales made while the store was cut off reached the cloud before the "
                                "link returned: the cut did not hold")
            offline = [s for s in sales.samples if cut_at.monotonic_s <= s.at.monotonic_s < restored_at.monotonic_s]
            # A sale the POS answered with anything but 201 was refused; one it did not answer in time (a busy
            # machine) is unknown, counted and shown, never taken for a refusal.
            refused = [s for s in offline if not s.ok and s.value is not None]
            extra["unanswered_offline"] = sum(1 for s in offline if s.value is None)
            if refused or not sold_offline:
                problems.append(f"the store did not keep selling while offline: {len(sold_offline)} sales acknowledged, "
                                f"{len(refused)} refused ({refused[0].value if refused else 'none acknowledged'})")
            sales.stop()
            acked = {sid for sid, _ in store_probe.acknowledged(sales.samples)}
            objective = env.slos.scenarios[SCENARIO].rto_s if SCENARIO in env.slos.scenarios else None

            def complete() -> store_probe.LedgerView | None:
                view = ledger()
                return view if acked <= set(view.counts) else None

            final = scenario.wait_until(complete, "every acknowledged sale in the cloud's ledger", (objective or 60) * 2)
            assert final is not None
            scenario.mark(Milestone.RECOVERY, "every sale the store made reached the cloud")
        after = _launch(ec2, subnet_id, image)
        if after:
            problems.append(f"launching on Outpost {outpost.outpost_id} still fails after the link returned: {after}")
    finally:
        ec2.delete_subnet(SubnetId=subnet_id)

    synced_at = max(final.received_at[sid] for sid in acked)
    sync_wall_s = max(0.0, synced_at - restoring_at.wall_time)
    duplicated = sorted(sid for sid, count in final.counts.items() if count > 1)
    lost = sorted(acked - set(final.counts))
    if duplicated:
        problems.append(f"{len(duplicated)} sales were recorded twice in the cloud: {duplicated[:3]}")
    if lost:
        problems.append(f"{len(lost)} acknowledged sales never reached the cloud: {lost[:3]}")
    measured = [Measured("store_sync_s", "every sale in the cloud after the service link was restored", "rto",
                         sync_wall_s, scenario.timescale.to_aws(sync_wall_s), objective,
                         f"{len(acked)} sales acknowledged at the till, {len(sold_offline)} of them while offline; "
                         f"timed from the start of the rollback ({restored_at.wall_time - restoring_at.wall_time:.1f} s "
                         "wall of it was the rollback command)")]
    scenario.timeline.record("state", "store offline figures", sales=len(acked), sold_offline=len(sold_offline),
                             duplicated=len(duplicated), lost=len(lost), retries_answered=final.retries_answered,
                             offline_aws_s=duration_aws_s, sync_aws_s=scenario.timescale.to_aws(sync_wall_s), **extra)
    verdict = scenario.judge_measured(SCENARIO, measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
