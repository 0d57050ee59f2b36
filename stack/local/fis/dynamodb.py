"""``aws:dynamodb:global-table-pause-replication``: a deny statement in each target replica's resource policy.

As FIS does on AWS: it appends a statement that denies the replication service-linked role
(AWSServiceRoleForDynamoDBReplication) the calls replication makes, until the experiment's end
(``DateLessThan aws:CurrentTime``, so the pause lapses even if nothing removes it), and removes
exactly that statement at the end, keeping the rest of the policy (or deleting the policy when the
statement was all of it). The replicator behind the local stack's global tables reads the replica's
resource policy to honour it (the DynamoDB part's concern, not this action's).
"""
from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from stack.local.fis.actions import Run

SID_PREFIX = "DoNotModifyFisDynamoDbPauseReplication"
REPLICATION_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                       "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:Scan", "dynamodb:DescribeTimeToLive",
                       "dynamodb:UpdateTimeToLive")


def replication_role(account: str) -> str:
    return (f"arn:aws:iam::{account}:role/aws-service-role/replication.dynamodb.amazonaws.com/"
            "AWSServiceRoleForDynamoDBReplication")


def _policy(dynamodb: Any, arn: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        found = dynamodb.get_resource_policy(ResourceArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("PolicyNotFoundException", "ResourceNotFoundException"):
            return None, None
        raise
    return json.loads(found["Policy"]), found.get("RevisionId")


def statement(run: Run, arn: str, until_epoch_s: float) -> dict[str, Any]:
    account = arn.split(":")[4]
    return {"Sid": f"{SID_PREFIX}{run.experiment_id}", "Effect": "Deny",
            "Principal": {"AWS": replication_role(account)}, "Action": list(REPLICATION_ACTIONS), "Resource": arn,
            "Condition": {"DateLessThan": {"aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                             time.gmtime(until_epoch_s))}}}


def pause_replication(run: Run) -> None:
    seconds = run.duration_wall_s()
    assert seconds is not None
    dynamodb = run.clients("dynamodb", run.region)
    paused: list[str] = []
    try:
        for arn in run.targets.get("Tables", []):
            policy, _ = _policy(dynamodb, arn)
            document = policy or {"Version": "2012-10-17", "Statement": []}
            document["Statement"] = [s for s in document.get("Statement", []) if not str(s.get("Sid", "")).startswith(
                f"{SID_PREFIX}{run.experiment_id}")] + [statement(run, arn, time.time() + seconds)]
            paused.append(arn)
            dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(document))
        run.applied()
        run.wait(seconds)
    finally:
        for arn in reversed(paused):
            policy, _ = _policy(dynamodb, arn)
            if policy is None:
                continue
            kept = [s for s in policy.get("Statement", []) if s.get("Sid") != f"{SID_PREFIX}{run.experiment_id}"]
            if kept:
                dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps({**policy, "Statement": kept}))
            else:
                dynamodb.delete_resource_policy(ResourceArn=arn)
