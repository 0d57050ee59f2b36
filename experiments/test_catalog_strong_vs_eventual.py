"""Strong vs eventual: the same replication pause under a multi-Region strongly consistent (MRSC) table and the
eventually consistent catalog.

Replication to eu-central-1 is paused (dynamodb.pause_replication) on each table in turn while prices are
written in us-east-1 and in eu-central-1, every sample interval, through DynamoDB's API in each Region (the
calls a checkout makes; checkout itself serves the one catalog table). For each mode the report shows:

- RPO: how many of us-east-1's acknowledged writes another Region (us-west-2) already held when the write
  was acknowledged (strong: all, the write waits for it; eventual: those the replicator had carried), and
  how long eu-central-1 served an older price than us-east-1 acknowledged (eventual: the pause and more);
- availability in the cut-off Region: eu-central-1's writes and strongly consistent reads during the pause
  (strong: refused; eventual: accepted, so the Regions diverge until the resume);
- the time eu-central-1 takes to catch up once replication resumes.

The MRSC table (us-east-1, us-west-2, eu-central-1) is made by the experiment and deleted after it.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from base import clock
from experiments import catalog
from experiments.scenario import Scenario
from faults.dynamodb import PauseReplication
from probes.slo import Measured

SKU = "SC-BOOK-005"
EU_SKU = "SC-TEE-001"  # written in eu-central-1 during the pause: its own item, so the two streams do not mix
STRONG_TABLE = "catalog-strong"
STRONG_REGIONS = ("us-east-1", "us-west-2", "eu-central-1")
PAUSED, WRITER, WITNESS = "eu-central-1", "us-east-1", "us-west-2"
ROUNDS = 5


@dataclass
class Trial:
    """What one mode did under the pause."""

    mode: str
    table: str
    acked: list[tuple[int, clock.Instant]] = field(default_factory=list)  # (price, acknowledged at)
    held_elsewhere: int = 0  # acknowledged writes us-west-2 held when acknowledged
    exposure_s: list[float] = field(default_factory=list)  # per ack: wall seconds until us-west-2 held it
    writer_refused: list[str] = field(default_factory=list)
    paused_writes_ok: int = 0
    paused_writes_refused: list[str] = field(default_factory=list)
    paused_strong_reads_ok: int = 0
    paused_strong_reads_refused: list[str] = field(default_factory=list)
    stale_reads: int = 0  # eventually consistent reads in eu-central-1 older than us-east-1's last ack
    resumed_at: clock.Instant | None = None
    caught_up_at: clock.Instant | None = None


def _code(error: Exception) -> str:
    return str(error.response["Error"]["Code"]) if isinstance(error, ClientError) else type(error).__name__


def _price(client: Any, table: str, sku: str, consistent: bool) -> int | None:
    item = client.get_item(TableName=table, Key={"sku": {"S": sku}}, ConsistentRead=consistent).get("Item")
    return int(item["price_cents"]["N"]) if item else None


def _holds(client: Any, table: str, price: int) -> bool:
    return _price(client, table, SKU, True) == price


def _reached(instant: float) -> bool:
    return time.monotonic() >= instant


def _write(client: Any, table: str, sku: str, price: int) -> None:
    client.update_item(TableName=table, Key={"sku": {"S": sku}},
                       UpdateExpression="SET price_cents = :p, version = if_not_exists(version, :z) + :o",
                       ExpressionAttributeValues={":p": {"N": str(price)}, ":z": {"N": "0"}, ":o": {"N": "1"}})


def make_strong_table(scenario: Scenario) -> None:
    home = scenario.clients("dynamodb", WRITER)
    home.create_table(TableName=STRONG_TABLE, KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                      Tags=[{"Key": "gameday:stack", "Value": "securecart"}])
    scenario.wait_until(lambda: home.describe_table(TableName=STRONG_TABLE)["Table"]["TableStatus"] == "ACTIVE",
                        f"{STRONG_TABLE} ACTIVE", 300)
    home.update_table(TableName=STRONG_TABLE, MultiRegionConsistency="STRONG",
                      ReplicaUpdates=[{"Create": {"RegionName": r}} for r in STRONG_REGIONS if r != WRITER])

    def active() -> bool:
        table = home.describe_table(TableName=STRONG_TABLE)["Table"]
        replicas = {r["RegionName"]: r["ReplicaStatus"] for r in table.get("Replicas", [])}
        return table["TableStatus"] == "ACTIVE" and set(replicas) == set(STRONG_REGIONS) and \
            set(replicas.values()) == {"ACTIVE"}

    scenario.wait_until(active, f"{STRONG_TABLE}'s replicas ACTIVE in {', '.join(STRONG_REGIONS)}", 600)
    for region in STRONG_REGIONS:  # the fault guard changes only tables that carry the stack tag
        client = scenario.clients("dynamodb", region)
        arn = client.describe_table(TableName=STRONG_TABLE)["Table"]["TableArn"]
        client.tag_resource(ResourceArn=arn, Tags=[{"Key": "gameday:stack", "Value": "securecart"}])
    for sku in (SKU, EU_SKU):
        _write(home, STRONG_TABLE, sku, catalog.seed_price(sku))


def delete_strong_table(scenario: Scenario) -> None:
    home = scenario.clients("dynamodb", WRITER)
    try:
        home.update_table(TableName=STRONG_TABLE, ReplicaUpdates=[{"Delete": {"RegionName": r}}
                                                                  for r in STRONG_REGIONS if r != WRITER])
    except ClientError as error:
        scenario.timeline.record("note", f"deleting {STRONG_TABLE}'s replicas: {_code(error)}")
    try:
        home.delete_table(TableName=STRONG_TABLE)
    except ClientError as error:
        scenario.timeline.record("note", f"deleting {STRONG_TABLE}: {_code(error)}")


def trial(scenario: Scenario, mode: str, table: str) -> Trial:
    done = Trial(mode, table)
    writer, witness, paused = (scenario.clients("dynamodb", r) for r in (WRITER, WITNESS, PAUSED))
    base = (_price(writer, table, SKU, True) or 0) + 1000
    with scenario.inject(PauseReplication, region=PAUSED, table_name=table):
        for round_ in range(1, ROUNDS + 1):
            price = base + round_
            try:
                _write(writer, table, SKU, price)
                acked = clock.now()
                done.acked.append((price, acked))
                if _price(witness, table, SKU, True) == price:
                    done.held_elsewhere += 1
                    done.exposure_s.append(0.0)
                else:  # acknowledged before any other Region had it: lost with us-east-1 until it arrives
                    scenario.wait_until(functools.partial(_holds, witness, table, price),
                                        f"{mode}: us-west-2 holds price {price}", 30)
                    done.exposure_s.append(time.monotonic() - acked.monotonic_s)
            except (ClientError, BotoCoreError) as error:
                done.writer_refused.append(_code(error))
            try:
                _write(paused, table, EU_SKU, catalog.seed_price(EU_SKU) + round_)
                done.paused_writes_ok += 1
            except (ClientError, BotoCoreError) as error:
                done.paused_writes_refused.append(_code(error))
            try:
                _price(paused, table, SKU, True)
                done.paused_strong_reads_ok += 1
            except (ClientError, BotoCoreError) as error:
                done.paused_strong_reads_refused.append(_code(error))
            try:
                if done.acked and _price(paused, table, SKU, False) != done.acked[-1][0]:
                    done.stale_reads += 1
            except (ClientError, BotoCoreError):
                pass
            next_at = time.monotonic() + scenario.interval_s
            scenario.wait_until(functools.partial(_reached, next_at), f"{mode}: round {round_} of {ROUNDS}", 30)
    done.resumed_at = scenario.timeline.of_kind("fault_rolled_back")[-1].at
    if done.acked:
        last = done.acked[-1][0]
        scenario.wait_until(lambda: _price(paused, table, SKU, True) == last,
                            f"{mode}: eu-central-1 serves us-east-1's last price", 120)
        done.caught_up_at = clock.now()
    scenario.timeline.record("state", f"{mode}: under the pause", table=table, acknowledged=len(done.acked),
                             held_in_us_west_2_at_ack=done.held_elsewhere, writer_refused=done.writer_refused,
                             eu_writes_accepted=done.paused_writes_ok, eu_writes_refused=done.paused_writes_refused,
                             eu_strong_reads_ok=done.paused_strong_reads_ok,
                             eu_strong_reads_refused=done.paused_strong_reads_refused, eu_stale_reads=done.stale_reads)
    return done


def figures(scenario: Scenario, done: Trial, kind: str) -> list[Measured]:
    slos, scale = scenario.environment.slos, scenario.timescale
    availability = (f"eu-central-1 accepted {done.paused_writes_ok} of {ROUNDS} writes and answered "
                    f"{done.paused_strong_reads_ok} of {ROUNDS} strongly consistent reads during the pause"
                    + (f" (refused: {sorted(set(done.paused_writes_refused + done.paused_strong_reads_refused))})"
                       if done.paused_writes_refused or done.paused_strong_reads_refused else ""))
    rpo = (f"us-west-2 held {done.held_elsewhere} of {len(done.acked)} of us-east-1's writes when they were "
           "acknowledged; the others arrived after (the window in which losing us-east-1 loses them); "
           f"resolution one sample interval ({scale.to_aws(scenario.interval_s):.0f} s)")
    exposure = max(done.exposure_s) if done.exposure_s else None
    catch_up = None if done.resumed_at is None or done.caught_up_at is None else \
        done.caught_up_at.monotonic_s - done.resumed_at.monotonic_s
    return [
        Measured("catalog_staleness_s", f"{done.mode}: RPO, an acknowledged write in us-east-1 only", kind, exposure,
                 None if exposure is None else scale.to_aws(exposure), None, rpo),
        Measured("catalog_staleness_s", f"{done.mode}: availability of the cut-off eu-central-1", "", None, None, None,
                 f"{availability}; {done.stale_reads} of {ROUNDS} eventually consistent reads there returned an "
                 "older price than us-east-1 had acknowledged"),
        Measured("catalog_convergence_s", f"{done.mode}: eu-central-1 caught up after the resume", "", catch_up,
                 None if catch_up is None else scale.to_aws(catch_up), slos.catalog_convergence_s,
                 "from the resume to eu-central-1's first strongly consistent read of us-east-1's last price"),
    ]


@pytest.mark.gameday
@pytest.mark.dynamodb
@pytest.mark.region
def test_strong_vs_eventual_under_a_replication_pause(scenario: Scenario) -> None:
    """The same pause on an MRSC table and on the eventual catalog: RPO 0 and refused writes vs staleness and divergence."""
    eventual_table = catalog.catalog_of(scenario).table
    make_strong_table(scenario)
    try:
        strong = trial(scenario, "strong", STRONG_TABLE)
        eventual = trial(scenario, "eventual", eventual_table)
    finally:
        delete_strong_table(scenario)
    problems = []
    if strong.held_elsewhere != len(strong.acked) or not strong.acked:
        problems.append(f"strong: only {strong.held_elsewhere} of {len(strong.acked)} acknowledged writes were in a "
                        "second Region when acknowledged; MRSC acknowledges a write once replicated (RPO 0)")
    if strong.paused_writes_ok:
        problems.append(f"strong: the cut-off eu-central-1 accepted {strong.paused_writes_ok} writes; MRSC refuses them")
    if eventual.paused_writes_ok != ROUNDS:
        problems.append(f"eventual: eu-central-1 accepted only {eventual.paused_writes_ok} of {ROUNDS} writes during the "
                        f"pause ({eventual.paused_writes_refused}); an eventual replica stays writable")
    measured = figures(scenario, strong, "") + figures(scenario, eventual, "rpo")
    verdict = scenario.judge_measured("catalog_strong_vs_eventual", measured, problems)
    assert verdict.passed, "\n".join(verdict.messages)
