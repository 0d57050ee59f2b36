"""dynamodb.pause_replication: FIS's statements appended to the replica's policy, and exactly those removed."""
from __future__ import annotations

import json
from typing import Any

import pytest
from moto.moto_api import state_manager

from faults import dynamodb, leftovers, signals
from faults import journal as journal_
from faults.guard import Guard
from faults.journal import Journal
from tests.faults.conftest import MOTO_ACCOUNT, STACK_TAG, Recorder, policy

pytestmark = pytest.mark.usefixtures("guard")
ARN = f"arn:aws:dynamodb:us-west-2:{MOTO_ACCOUNT}:table/catalog"
ROLE = (f"arn:aws:iam::{MOTO_ACCOUNT}:role/aws-service-role/replication.dynamodb.amazonaws.com/"
        "AWSServiceRoleForDynamoDBReplication")
OTHER = {"Sid": "Readers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MOTO_ACCOUNT}:root"},
         "Action": "dynamodb:GetItem", "Resource": ARN}


def _table(clients: Recorder) -> Any:
    ddb = clients("dynamodb", "us-west-2")
    ddb.create_table(TableName="catalog", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     Tags=[{"Key": STACK_TAG[0], "Value": STACK_TAG[1]}])
    return ddb


def _statements(ddb: Any) -> list[dict[str, Any]]:
    return list(json.loads(ddb.get_resource_policy(ResourceArn=ARN)["Policy"])["Statement"])


def test_pause_appends_fis_statements_and_rollback_removes_only_them(clients: Recorder, journal: Journal) -> None:
    ddb = _table(clients)
    ddb.put_resource_policy(ResourceArn=ARN, Policy=json.dumps({"Version": "2012-10-17", "Statement": [OTHER]}))
    with dynamodb.PauseReplication(clients, journal, region="us-west-2", table_name="catalog") as fault:
        statements = _statements(ddb)
        assert statements[0] == OTHER
        service, role = statements[1:]
        assert service["Sid"] == f"DoNotModifyFisDynamoDbPauseReplication{fault.entry.id}ServicePrincipal"  # type: ignore[union-attr]
        assert service["Effect"] == "Deny" and service["Action"] == ["dynamodb:ReadDataForReplication",
                                                                      "dynamodb:WriteDataForReplication"]
        assert service["Condition"]["StringEquals"] == {"aws:PrincipalServiceName": "replication.dynamodb.amazonaws.com"}
        assert role["Principal"] == {"AWS": "*"} and role["Resource"] == ARN
        assert role["Condition"]["ArnEquals"] == {"aws:PrincipalArn": ROLE}
        assert "aws:CurrentTime" in role["Condition"]["DateLessThan"]
        assert "dynamodb:PutItem" in role["Action"] and "dynamodb:UpdateTimeToLive" in role["Action"]
    assert _statements(ddb) == [OTHER]
    assert list(journal_.open_entries("test-target", journal.directory.parent)) == []


def test_a_policy_the_fault_created_is_deleted_and_recovery_is_idempotent(clients: Recorder, journal: Journal) -> None:
    ddb = _table(clients)
    fault = dynamodb.PauseReplication(clients, journal, region="us-west-2", table_name="catalog")
    fault.__enter__()
    # The run is "killed" here: its `with` never exits. Its process would have died with the signal
    # handlers it installed; this one lives on, so it takes them back (the next test's faults start clean).
    signals.body(False)
    signals.leave()
    assert len(_statements(ddb)) == 2
    leftovers.recover("test-target", clients, journal.directory.parent)  # gameday recover after a killed run
    with pytest.raises(ddb.exceptions.PolicyNotFoundException):
        ddb.get_resource_policy(ResourceArn=ARN)
    dynamodb.PauseReplication.restore(clients, {**fault.entry.params, **fault.entry.state})  # type: ignore[union-attr]
    assert clients.mutating()[-1] == "DeleteResourcePolicy"  # the second rollback changed nothing


def test_with_injector_fis_it_runs_the_fis_action(clients: Recorder, journal: Journal) -> None:
    _table(clients)
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 1})
    try:
        with dynamodb.PauseReplication(clients, journal, region="us-west-2", table_name="catalog",
                                       guard=Guard(policy(injector="fis"))):
            pass
    finally:
        state_manager.unset_transition("fis::experiment")
    [created] = [params for _, op, params in clients.calls if op == "CreateExperimentTemplate"]
    assert created["targets"] == {"Tables": {"resourceType": "aws:dynamodb:global-table", "resourceArns": [ARN],
                                             "selectionMode": "ALL"}}
    assert created["actions"]["pause"]["actionId"] == "aws:dynamodb:global-table-pause-replication"
    assert "PutResourcePolicy" not in clients.mutating()  # FIS changes the policy, not gameday
