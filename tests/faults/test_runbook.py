"""runbook.point_writer and the order in which `gameday recover` undoes runbook steps (moto)."""
from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from environments import loader
from faults import leftovers, runbook
from base.errors import FaultError
from faults.journal import Journal
from stack import topology
from tests.faults.conftest import Recorder

pytestmark = pytest.mark.usefixtures("guard")
STACK = [{"Key": "gameday:stack", "Value": "securecart"}]
NAME = "orders.db.securecart.example."
OLD = "orders.aaaa.us-east-1.rds.amazonaws.com"


def _world(clients: Recorder) -> str:
    """A tagged zone whose writer name points at OLD, and a tagged DB instance to point it at."""
    route53 = clients("route53", "us-east-1")
    zone = str(route53.create_hosted_zone(Name="securecart.example.", CallerReference="z")["HostedZone"]["Id"]).split("/")[-1]
    route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone, AddTags=STACK)
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": NAME, "Type": "CNAME", "TTL": 5, "ResourceRecords": [{"Value": OLD}]}}]})
    clients("rds", "ap-southeast-1").create_db_instance(
        DBInstanceIdentifier="orders-replica", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="p" * 12, Tags=STACK)
    return zone


def _writer(clients: Recorder, zone: str) -> str | None:
    return topology.value(topology.record(clients, zone, NAME))


def test_point_writer_points_the_name_and_back(clients: Recorder, journal: Journal) -> None:
    zone = _world(clients)
    endpoint = clients("rds", "ap-southeast-1").describe_db_instances(
        DBInstanceIdentifier="orders-replica")["DBInstances"][0]["Endpoint"]["Address"]
    with runbook.PointWriter(clients, journal, zone_id=zone, record_name=NAME, region="ap-southeast-1",
                             db_instance_identifier="orders-replica") as step:
        assert _writer(clients, zone) == endpoint
        assert step.entry is not None and step.entry.state == {"value_before": OLD, "value_after": endpoint}
    assert _writer(clients, zone) == OLD


def test_point_writer_refuses_to_overwrite_someone_elses_change(clients: Recorder, journal: Journal) -> None:
    zone = _world(clients)
    step = runbook.PointWriter(clients, journal, zone_id=zone, record_name=NAME, region="ap-southeast-1",
                               db_instance_identifier="orders-replica")
    step.__enter__()
    clients("route53", "us-east-1").change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": NAME, "Type": "CNAME", "TTL": 5,
                                                  "ResourceRecords": [{"Value": "elsewhere.example.com"}]}}]})
    with pytest.raises(FaultError, match="someone else changed it"):
        step.__exit__(None, None, None)
    assert _writer(clients, zone) == "elsewhere.example.com"


def test_point_writer_needs_the_target_tag_on_the_zone(clients: Recorder, journal: Journal) -> None:
    zone = _world(clients)
    clients("route53", "us-east-1").change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone,
                                                             RemoveTagKeys=["gameday:stack"])
    with pytest.raises(Exception, match="does not carry the target tag"):
        with runbook.PointWriter(clients, journal, zone_id=zone, record_name=NAME, region="ap-southeast-1",
                                 db_instance_identifier="orders-replica"):
            pass
    assert _writer(clients, zone) == OLD


def test_recover_undoes_faults_first_then_runbook_steps_newest_first(tmp_path: Path) -> None:
    journal = Journal("ordered", tmp_path)
    promote = {"region": "ap-southeast-1", "db_instance_identifier": "orders-replica"}
    point = {"zone_id": "Z1", "record_name": NAME}
    for fault, params in (("route53.fail_health_check", {"health_check_id": "a"}), ("runbook.promote_replica", promote),
                          ("route53.fail_health_check", {"health_check_id": "b"}), ("runbook.point_writer", point)):
        journal.begin(fault, params)
    planned = [(result.fault, result.params) for result, _, _ in leftovers.planned_recovery("ordered", tmp_path)]
    assert planned == [("route53.fail_health_check", {"health_check_id": "a"}),
                       ("route53.fail_health_check", {"health_check_id": "b"}),
                       ("runbook.point_writer", point), ("runbook.promote_replica", promote)]


class _Denied:
    """A client whose every call is refused, as with a policy that lacks the action."""

    def __getattr__(self, operation: str) -> object:
        def refuse(**_: object) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform {operation}"}},
                              operation)
        return refuse


def test_a_topology_the_caller_may_not_read_is_reported_not_raised() -> None:
    # scan lists what it found elsewhere (NACLs, health checks) beside this line, instead of losing it all.
    spec = topology.spec_of(loader.load("local"))
    [unread] = leftovers.topology(lambda service, region: _Denied(), spec, None)
    assert (unread.kind, unread.resource) == ("topology-unread", spec.writer.identifier)
    assert "AccessDenied" in unread.detail


def test_orders_the_caller_may_not_read_are_reported_as_unread(clients: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = topology.spec_of(loader.load("local"))
    monkeypatch.setattr(topology, "drift", lambda *_: [])
    monkeypatch.setattr(topology, "describe", lambda *_: {"DBInstanceIdentifier": "orders"})

    def denied(*_: object) -> list[object]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "secretsmanager:GetSecretValue"}},
                          "GetSecretValue")
    monkeypatch.setattr(topology, "orphans", denied)
    [unread] = leftovers.topology(clients, spec, None)
    assert unread.kind == "orders-unread" and "GetSecretValue" in unread.detail
