"""Everything game days do to an account, run under moto with every AWS operation recorded, by phase.

- ``build`` and ``rebuild``: what `--build-stack` does (the reference builder, then again with one database
  missing and its secret present, so the reuse paths run too);
- ``gameday``: the guard, every fault with both injectors, their rollbacks, the runbook steps (promote the
  replica, point the writer name) and their rollback (orders copied back, the replica rebuilt), `gameday scan`
  with its topology check and `gameday recover` of a run killed with faults and runbook steps open, an
  experiment's restore of the topology, the stop-condition watcher, the read-only probes and the smoke suite's
  discovery (tests/aws);
- ``converge``: `gameday stack build` over a drifted topology (writer name elsewhere, Multi-AZ off, the
  replica promoted), which puts it back;
- ``teardown``: `gameday stack teardown`, which deletes what the builds created, found by their run tag.

The build's dry run (its reads) is recorded under ``build`` and attach mode's discovery under ``gameday``.

Two boundaries are replaced, neither of them AWS: the PostgreSQL connections that read the orders (a
database with no order: the AWS calls around it, the endpoints and the master secret, are real moto calls)
and DNS resolution of the endpoints. And moto's PromoteReadReplica is made to detach the replica from its
source, as RDS does (moto keeps ReadReplicaSourceDBInstanceIdentifier, so every promoted copy would still
look like a replica and the restore paths would never run).

The IAM policy test turns these operations into IAM actions and compares them with iam/*.json.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
from dataclasses import dataclass, field
from typing import Any, Iterator
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api import state_manager

from environments import loader
from environments.model import StopCondition
from faults import directconnect, dynamodb, ec2, leftovers, network, rds, route53, runbook
from faults.guard import FisSettings, Guard, Policy
from faults.journal import Journal
from probes import metrics, state, traces
from stack import discovery as stack_discovery, orders, plan, teardown, topology
from stack.builder import BuildOptions, Builder
from stack.local.controlplane.rds import fix_cross_region_replicas
from tests.aws import discovery
from tests.faults.conftest import _session

STACK_TAG = ("gameday:stack", "securecart")


@dataclass(frozen=True)
class DatabaseLogin:
    """A connection to a database to read its orders; ``after_calls``: how many AWS calls came before it."""

    after_calls: int
    phase: str
    host: str  # the endpoint (resolution is stubbed: the endpoint name stands for its address)
    port: int
    database: str
    user: str
    password: str


@dataclass
class Recording:
    """(phase, service, operation, params) of every call, in order; and every connection to a database."""

    calls: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    connections: list[DatabaseLogin] = field(default_factory=list)
    master_secret: dict[str, str] = field(default_factory=dict)  # what the builder stored, for the test to compare

    def of(self, phase: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [(service, operation, params) for p, service, operation, params in self.calls if p == phase]


class EmptyOrdersDatabase:
    """Stands in for pg8000.native.Connection: a database in which the checkout has taken no order yet.

    It answers only the question every orders read starts with (is there an ``orders`` table?); any other
    statement fails the scenario, so a read that got further than this stub can vouch for is noticed."""

    def __init__(self, recording: Recording, clients: PhaseClients, user: str, *, password: str, host: str, port: int,
                 database: str, timeout: float) -> None:
        recording.connections.append(DatabaseLogin(len(recording.calls), clients.phase, host, port, database, user,
                                                   password))

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        if sql.startswith("SELECT to_regclass(") and params == {"t": orders.TABLE}:
            return [[False]]
        raise AssertionError(f"the scenario's database stub does not answer {sql!r} ({params})")

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _promotion_detaches_the_replica() -> Iterator[None]:
    """moto's PromoteReadReplica keeps the source: drop it, and the source's replica entry, as RDS does."""
    from moto.rds import models

    original = models.RDSBackend.promote_read_replica

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        source = database.source_db_instance_identifier if database.is_replica else None
        promoted = original(self, db_kwargs)
        if source:
            primary = self.find_db_from_id(source)
            primary.replicas = [r for r in primary.replicas if r not in (promoted.db_instance_identifier,
                                                                         promoted.db_instance_arn)]
            promoted.source_db_instance_identifier = None
        return promoted

    with mock.patch.object(models.RDSBackend, "promote_read_replica", promote_read_replica):
        yield


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


VIF_ID = "dxvif-1a2b3c4d"


@contextlib.contextmanager
def _direct_connect_vif() -> Iterator[None]:
    """moto has Direct Connect connections only: one warehouse VIF and its failover test, as the API shows them
    (the local stack's control plane answers these for real: stack.local.controlplane.directconnect)."""
    from moto.directconnect.responses import DirectConnectResponse

    vif = {"virtualInterfaceId": VIF_ID, "ownerAccount": "123456789012", "virtualInterfaceState": "available",
           "tags": [{"key": STACK_TAG[0], "value": STACK_TAG[1]}]}

    def describe(self: Any) -> str:
        return json.dumps({"virtualInterfaces": [vif]})

    def test(self: Any) -> str:
        return json.dumps({"virtualInterfaceTest": {"virtualInterfaceId": VIF_ID, "status": "in-progress"}})

    with mock.patch.object(DirectConnectResponse, "describe_virtual_interfaces", describe, create=True), \
            mock.patch.object(DirectConnectResponse, "start_bgp_failover_test", test, create=True), \
            mock.patch.object(DirectConnectResponse, "stop_bgp_failover_test", test, create=True):
        yield


def run(journal_dir: Any) -> Recording:
    """Run every game-day path once under moto. Raises whatever a path raises: a broken path fails the test."""
    recording = Recording()
    fix_cross_region_replicas()
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 3})
    try:
        with mock_aws(), _promotion_detaches_the_replica(), _direct_connect_vif():
            clients = PhaseClients(_session(), recording)
            # The endpoints are names no resolver knows here: the stub database is reached "at" the name itself.
            with mock.patch.object(orders, "resolve", lambda name, nameserver: name), \
                    mock.patch("pg8000.native.Connection",
                               lambda *args, **kwargs: EmptyOrdersDatabase(recording, clients, *args, **kwargs)):
                _play(clients, recording, journal_dir)
    finally:
        state_manager.unset_transition("fis::experiment")
    return recording


def _play(clients: PhaseClients, recording: Recording, journal_dir: Any) -> None:
    environment = loader.load("local")
    options = BuildOptions(wait_delay_s=0.01, catalog=False)  # plain moto ignores ReplicaUpdates: no global table

    clients.phase = "build"
    Guard(Policy.for_environment(environment)).check_caller(clients, list(environment.regions), "build")
    # `gameday stack build --dry-run` reads what the build will (each Region's AMI) and creates nothing.
    assert not plan.plan(environment, options, clients, "scenario").problems
    first = Builder(environment, clients, options)
    built = first.build()
    # Attach mode (`--attach`): the stack found by its tags, reads only; what a game day needs.
    clients.phase = "gameday"
    assert stack_discovery.discover(environment, clients) == built
    clients.phase = "build"
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
    tag = Policy.for_environment(environment).target_tag  # a global table to pause (a replica's table, here)
    clients("dynamodb", "us-west-2").create_table(
        TableName="catalog-iam", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": tag[0], "Value": tag[1]}])
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
        with dynamodb.PauseReplication(clients, journal, region="us-west-2", table_name="catalog-iam", guard=guard):
            pass
        with directconnect.DisconnectVif(clients, journal, region="us-west-2", virtual_interface_id=VIF_ID, guard=guard):
            pass
        if injector == "api":
            instance = built.instances_in("us-east-1", "us-east-1a")[0]
            with route53.FailHealthCheck(clients, journal, health_check_id=instance.health_check_id, guard=guard):
                state.health_check_observations(clients, instance.health_check_id)
            with ec2.StopInstances(clients, journal, region="us-east-1", tag=("gameday:role", "checkout"),
                                   availability_zone="us-east-1a", guard=guard):
                pass
    # The Region-DR runbook steps, each rolled back: the name back first, then the replica rebuilt from the writer.
    assert built.database is not None and built.replica is not None
    spec = topology.spec_of(environment)
    writer, replica = built.database, built.replica
    recording.master_secret = json.loads(clients("secretsmanager", writer.region).get_secret_value(
        SecretId=writer.secret_id)["SecretString"])

    def promote() -> runbook.PromoteReplica:
        return runbook.PromoteReplica(clients, journal, region=replica.region,
                                      db_instance_identifier=replica.identifier, secret_id=replica.secret_id,
                                      secret_region=writer.region, guard=guard, wait_delay_s=0.01)

    def point_writer() -> runbook.PointWriter:
        return runbook.PointWriter(clients, journal, zone_id=built.zone_id, record_name=spec.writer_record,
                                   region=replica.region, db_instance_identifier=replica.identifier, guard=guard)

    with contextlib.ExitStack() as steps:
        steps.enter_context(promote())
        steps.enter_context(point_writer())
    # An experiment's restore after its steps (experiments/test_region_evacuation.py): nothing left to converge.
    assert topology.converge(clients, spec, None, copy_back=True, delay_s=0.01) == []
    # A run killed mid-fault and mid-runbook, then `gameday scan` and `gameday recover` (gameday.cli).
    killed = network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1b",
                               subnet_id=built.subnet("us-east-1b").subnet_id, guard=guard)
    for step in (killed, promote(), point_writer()):
        step.entry = journal.begin(step.name, step.params())
        step.inject(step.entry)
    leftovers.scan(clients, list(environment.regions), STACK_TAG)
    drifted = leftovers.topology(clients, spec, None)
    assert sorted(d.kind for d in drifted) == ["replica-promoted", "writer-record"], drifted
    recovered = leftovers.recover(journal.target, clients, journal_dir)
    assert [r.outcome for r in recovered] == ["rolled back"] * 3, recovered
    assert leftovers.topology(clients, spec, None) == []
    # The smoke suite's discovery of the stack, and the read-only probes.
    assert discovery.find(clients, environment) is not None
    state.db_state(clients, "us-east-1", "orders")
    state.db_events(clients, "us-east-1", "orders", since=datetime.datetime(2025, 1, 1))
    state.replica_lag_s(clients, "ap-southeast-1", "orders-replica")
    # The probes' CloudWatch metrics and the game day's dashboard (probes.metrics).
    publisher = metrics.Publisher(lambda region: clients("cloudwatch", region), 60, frozenset({"us-east-1"}), "us-east-1")
    publisher.record(metrics.Observation(1_700_000_000.0, "us-east-1", "virginia", 12.0, True))
    publisher.flush()
    assert publisher.failures == 0
    metrics.put_dashboard(clients("cloudwatch", "us-east-1"), "local", ["us-east-1"])
    # The trace evidence of a fault window (probes.traces): the calls are recorded; moto answers
    # GetTraceSummaries "not implemented", which the evidence reports as unavailable.
    traces.collect(clients, ["us-east-1"], 1_700_000_000.0, 1_700_000_060.0, "the fault")
    xray = clients("xray", "us-east-1")  # the rest of what collect calls, which moto does not reach
    for call, params in (("get_service_graph", {"StartTime": 1_700_000_000, "EndTime": 1_700_000_060}),
                         ("batch_get_traces", {"TraceIds": ["1-65535a00-0123456789abcdef01234567"]})):
        with contextlib.suppress(ClientError):
            getattr(xray, call)(**params)
    # The one-way promotion (no restore) comes last of the game day: `gameday stack build` puts it back.
    with rds.PromoteReplica(clients, journal, region="ap-southeast-1", db_instance_identifier="orders-replica",
                            guard=guard, wait_delay_s=0.01):
        pass

    # More drift than a game day leaves (Multi-AZ off, the writer name at the promoted copy), then a build.
    clients.phase = "setup"
    clients("rds", writer.region).modify_db_instance(DBInstanceIdentifier=writer.identifier, MultiAZ=False,
                                                     ApplyImmediately=True)
    promoted = clients("rds", replica.region).describe_db_instances(
        DBInstanceIdentifier=replica.identifier)["DBInstances"][0]["Endpoint"]["Address"]
    topology.point_record(clients, built.zone_id, spec.writer_record, promoted, writer.endpoint)
    clients.phase = "converge"
    converging = Builder(environment, clients, dataclasses.replace(options, nameserver=("127.0.0.1", 53),
                                                                   copy_back_orphaned_orders=True))
    converging.build()
    assert [line.split(" ")[0] for line in converging.converged] == ["pointed", "turned", "deleted", "rebuilt"], \
        converging.converged

    # The catalog global table a build on AWS makes (plain moto keeps no replicas: a one-Region table here).
    clients("dynamodb", "us-east-1").create_table(
        TableName="catalog", KeySchema=[{"AttributeName": "sku", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "sku", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "gameday:stack", "Value": "securecart"}, {"Key": "gameday:run", "Value": first.run_id}])

    # `gameday stack teardown --run-id`: everything these builds created, found by their run tag, deleted.
    clients.phase = "teardown"
    found = teardown.find(clients, list(environment.regions), "securecart", first.run_id)
    assert {f.kind for f in found} >= {"hosted-zone", "health-check", "instance", "db-replica", "db-instance", "vpc",
                                       "dynamodb-table"}
    teardown.remove(clients, found, delay_s=0.01, attempts=50)
    assert teardown.find(clients, list(environment.regions), "securecart", first.run_id) == []
