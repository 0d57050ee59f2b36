"""Everything game days do to an account, run under moto with every AWS operation recorded, by phase.

- ``build`` and ``rebuild``: what `--build-stack` does (the reference builder, then again with one database
  missing and its secret present, so the reuse paths run too);
- ``gameday``: the guard, every fault with both injectors, their rollbacks, `gameday recover` and `gameday scan`,
  the stop-condition watcher, the read-only probes and the smoke suite's discovery (tests/aws).

The IAM policy test turns these operations into IAM actions and compares them with iam/*.json.
"""
from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws
from moto.moto_api import state_manager

from environments import loader
from environments.model import StopCondition
from faults import ec2, leftovers, network, rds, route53
from gameday.guard import FisSettings, Guard, Policy
from gameday.journal import Journal
from probes import state
from stack.builder import BuildOptions, Builder
from stack.local.controlplane.rds import fix_cross_region_replicas
from tests.aws import discovery
from tests.faults.conftest import _session

STACK_TAG = ("gameday:stack", "securecart")


@dataclass
class Recording:
    """(phase, service, operation, params) of every call, in order."""

    calls: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def of(self, phase: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [(service, operation, params) for p, service, operation, params in self.calls if p == phase]


class PhaseClients:
    def __init__(self, session: boto3.session.Session, recording: Recording) -> None:
        self.session, self.recording, self.phase = session, recording, "setup"
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            client = self.session.client(service, region_name=region)
            client.meta.events.register("provide-client-params.*.*", self._record)
            self._clients[(service, region)] = client
        return self._clients[(service, region)]

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.recording.calls.append((self.phase, model.service_model.service_name, model.name, dict(params)))


def run(journal_dir: Any) -> Recording:
    """Run every game-day path once under moto. Raises whatever a path raises: a broken path fails the test."""
    recording = Recording()
    fix_cross_region_replicas()
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 3})
    try:
        with mock_aws():
            clients = PhaseClients(_session(), recording)
            _play(clients, journal_dir)
    finally:
        state_manager.unset_transition("fis::experiment")
    return recording


def _play(clients: PhaseClients, journal_dir: Any) -> None:
    environment = loader.load("local")
    options = BuildOptions(wait_delay_s=0.01)

    clients.phase = "build"
    Guard(Policy.for_environment(environment)).check_caller(clients, list(environment.regions), "build")
    built = Builder(environment, clients, options).build()
    # A database whose secret exists already (a build interrupted after the secret): the builder reads it back.
    clients.phase = "setup"
    clients("secretsmanager", "us-east-1").create_secret(Name="securecart/orders2/master",
                                                         SecretString='{"username": "securecart", "password": "xxxxxxxxxxxxxxxx"}')
    clients.phase = "rebuild"
    second = environment.model_copy(update={"stack": environment.stack.model_copy(
        update={"database_identifier": "orders2", "replica_region": None})})
    Builder(second, clients, options).build()

    clients.phase = "setup"
    cloudwatch = clients("cloudwatch", "us-east-1")
    cloudwatch.put_metric_alarm(AlarmName="checkout-5xx", MetricName="5XX", Namespace="SecureCart", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="checkout-5xx", StateValue="OK", StateReason="quiet")
    conditions = (StopCondition(alarm_name="checkout-5xx", region="us-east-1"),)
    journal = Journal("aws-123456789012", journal_dir)

    clients.phase = "gameday"
    for injector in ("api", "fis"):
        guard = Guard(dataclasses.replace(Policy.for_environment(environment, run_id="20250101T000000Z-iam001"),
                                          stop_conditions=conditions, watch_interval_s=0.01, injector=injector,
                                          fis=FisSettings(poll_s=0.01, timeout_s=10)))
        subnet = built.subnet("us-east-1a")
        with network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a",
                               subnet_id=subnet.subnet_id, guard=guard):
            pass
        with network.IsolateRegion(clients, journal, region="us-west-2", guard=guard,
                                   subnet_ids=[s.subnet_id for s in built.subnets if s.region == "us-west-2"]):
            pass
        with rds.RebootWithFailover(clients, journal, region="us-east-1", db_instance_identifier="orders", guard=guard,
                                    wait_delay_s=0.01):
            pass
        if injector == "api":
            instance = built.instances_in("us-east-1", "us-east-1a")[0]
            with route53.FailHealthCheck(clients, journal, health_check_id=instance.health_check_id, guard=guard):
                state.health_check_observations(clients, instance.health_check_id)
            with ec2.StopInstances(clients, journal, region="us-east-1", tag=("gameday:role", "checkout"),
                                   availability_zone="us-east-1a", guard=guard):
                pass
    # A run killed mid-fault, then `gameday recover` and `gameday scan`.
    killed = network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1b",
                               subnet_id=built.subnet("us-east-1b").subnet_id, guard=guard)
    killed.entry = journal.begin(killed.name, killed.params())
    killed.inject(killed.entry)
    leftovers.scan(clients, list(environment.regions), STACK_TAG)
    leftovers.recover(journal.target, clients, journal_dir)
    # The smoke suite's discovery of the stack, and the read-only probes.
    assert discovery.find(clients, environment) is not None
    state.db_state(clients, "us-east-1", "orders")
    state.db_events(clients, "us-east-1", "orders", since=datetime.datetime(2025, 1, 1))
    state.replica_lag_s(clients, "ap-southeast-1", "orders-replica")
    # The Region-DR runbook step comes last: it is one-way.
    with rds.PromoteReplica(clients, journal, region="ap-southeast-1", db_instance_identifier="orders-replica",
                            guard=guard, wait_delay_s=0.01):
        pass
