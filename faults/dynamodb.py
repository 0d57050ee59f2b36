"""DynamoDB faults: pause a global table's replication to and from one replica, as AWS FIS does it.

FIS's ``aws:dynamodb:global-table-pause-replication`` (on a multi-Region eventually consistent table)
appends two Deny statements to the replica table's resource-based policy: one denies the replication
service (``dynamodb:ReadDataForReplication``/``WriteDataForReplication`` for
``aws:PrincipalServiceName`` replication.dynamodb.amazonaws.com), the other denies item and table
actions to the replication service-linked role (``aws:PrincipalArn``); both until a DateLessThan on
``aws:CurrentTime``. A table without a policy gets one for the duration, deleted at the end; otherwise
only the fault's statements are added and removed. AWS notes replication may go on for up to
5 minutes after the action begins; the local stack pauses at once.

``PauseReplication`` does exactly that through the API (``injector: api``), or runs the FIS action
itself (``injector: fis``). Its rollback removes exactly its statements and keeps any other; it
deletes the policy only when the fault created it. The DateLessThan is ``max_duration_s`` of the FIS
settings ahead: a dead man's switch when gameday dies and no one runs ``gameday recover``.
(FIS also denies the table's stream to the role; the local stack replicates without streams.)
"""
from __future__ import annotations

import datetime
import json
import re
from typing import Any

from botocore.exceptions import ClientError

from faults import fis
from faults.base import ClientFactory, Fault
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline

SID_PREFIX = "DoNotModifyFisDynamoDbPauseReplication"
REPLICATION_SERVICE = "replication.dynamodb.amazonaws.com"
ROLE = "arn:{partition}:iam::{account}:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"
ROLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:Scan", "dynamodb:DescribeTimeToLive",
                "dynamodb:UpdateTimeToLive"]


def pause_statements(table_arn: str, suffix: str, until: datetime.datetime, caller: Caller) -> list[dict[str, Any]]:
    """The two statements FIS appends to a replica's policy (MREC global tables), with Sids ending in ``suffix``."""
    ends = until.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{until.microsecond // 1000:03d}Z"
    sid = SID_PREFIX + re.sub(r"[^A-Za-z0-9]", "", suffix)
    return [
        {"Sid": f"{sid}ServicePrincipal", "Effect": "Deny", "Principal": {"AWS": "*"},
         "Action": ["dynamodb:ReadDataForReplication", "dynamodb:WriteDataForReplication"], "Resource": table_arn,
         "Condition": {"StringEquals": {"aws:PrincipalServiceName": REPLICATION_SERVICE},
                       "DateLessThan": {"aws:CurrentTime": ends}}},
        {"Sid": sid, "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": list(ROLE_ACTIONS), "Resource": table_arn,
         "Condition": {"DateLessThan": {"aws:CurrentTime": ends},
                       "ArnEquals": {"aws:PrincipalArn": ROLE.format(partition=caller.partition,
                                                                     account=caller.account_id)}}},
    ]


def current_policy(dynamodb: Any, table_arn: str) -> dict[str, Any] | None:
    """The replica's resource-based policy, or None when it has none."""
    try:
        found = dynamodb.get_resource_policy(ResourceArn=table_arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "PolicyNotFoundException":
            return None
        raise
    policy: dict[str, Any] = json.loads(found["Policy"])
    return policy


class PauseReplication(Fault):
    """Pause replication to and from the global table's replica in ``region``."""

    name = "dynamodb.pause_replication"
    fis_capable = True

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, table_name: str,
                 timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.table_name = region, table_name

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "table_name": self.table_name}

    def discover(self, caller: Caller) -> list[Resource]:
        dynamodb = self.clients("dynamodb", self.region)
        arn = dynamodb.describe_table(TableName=self.table_name)["Table"]["TableArn"]
        tags = dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags") or []
        return [Resource(arn, self.table_name, self.region, {t["Key"]: t["Value"] for t in tags})]

    def inject(self, entry: Entry) -> None:
        arn = self.targets()[0]
        if self.injector == "fis":
            fis.inject(self, self.region, fis.pause_replication([arn], fis.settings_of(self).max_duration_s))
            return
        assert self.caller is not None
        dynamodb = self.clients("dynamodb", self.region)
        before = current_policy(dynamodb, arn)
        until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            seconds=fis.settings_of(self).max_duration_s)
        statements = pause_statements(arn, entry.id, until, self.caller)
        self.journal.progress(entry, table_arn=arn, created_policy=before is None,
                              sids=[s["Sid"] for s in statements])
        policy = before or {"Version": "2012-10-17", "Statement": []}
        policy["Statement"] = [*_statements(policy), *statements]
        dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(policy))

    def rollback(self, state: dict[str, Any]) -> None:
        if state.get("injector") == "fis":
            fis.rollback(self, state, stop=True)
            return
        arn, sids = state.get("table_arn"), set(state.get("sids") or ())
        if not arn or not sids:
            return  # nothing was appended
        dynamodb = self.clients("dynamodb", state["region"])
        try:
            policy = current_policy(dynamodb, arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return  # the table is gone, and its policy with it
            raise
        if policy is None:
            return
        kept = [s for s in _statements(policy) if s.get("Sid") not in sids]
        if len(kept) == len(_statements(policy)):
            return  # already removed
        if not kept and state.get("created_policy"):
            dynamodb.delete_resource_policy(ResourceArn=arn)
        else:
            dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps({**policy, "Statement": kept}))

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        if state.get("injector") == "fis":
            return fis.planned_rollback(state, stop=True)
        arn = state.get("table_arn")
        call = (Call("dynamodb", state["region"], "DeleteResourcePolicy", {"ResourceArn": arn})
                if state.get("created_policy") else
                Call("dynamodb", state["region"], "PutResourcePolicy", {"ResourceArn": arn, "Policy": "<the policy without "
                     f"{', '.join(state.get('sids') or ())}>"}))
        return [call], "re-reads the policy first (GetResourcePolicy) and removes only the fault's statements"


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement") or []
    return list(found) if isinstance(found, list) else [found]
