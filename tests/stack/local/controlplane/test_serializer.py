"""The remembering value picker answers exactly as moto's own serializer does, for every protocol."""
from __future__ import annotations

import base64
import contextlib
import json
import uuid
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from moto.core.serialize import ResponseSerializer

from stack.local.controlplane import serializer
from tests.stack.local.controlplane.conftest import signed


@pytest.fixture
def answer_both(edge_client: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], dict[str, Any]]], tuple[Any, Any]]:
    """Runs one read with moto's picking, then with the remembering one; both answers without request ids."""
    serializer.install()
    remembering = ResponseSerializer.get_value
    moto_s = remembering.moto_get_value  # type: ignore[attr-defined]

    def both(call: Callable[[], dict[str, Any]]) -> tuple[Any, Any]:
        answers = []
        for picking in (moto_s, remembering):
            monkeypatch.setattr(ResponseSerializer, "get_value", picking)
            answer = call()
            answer.pop("ResponseMetadata", None)
            answers.append(answer)
        monkeypatch.setattr(ResponseSerializer, "get_value", remembering)
        return answers[0], answers[1]

    return both


def test_install_replaces_moto_s_picking_once() -> None:
    serializer.install()
    first = ResponseSerializer.get_value
    serializer.install()
    assert ResponseSerializer.get_value is first and first.moto_get_value is not first  # type: ignore[attr-defined]


@contextlib.contextmanager
def new_table(dynamodb: Any, prefix: str) -> Iterator[str]:
    """A table keyed by the string ``pk``, deleted afterwards."""
    table = f"{prefix}-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    try:
        yield table
    finally:
        dynamodb.delete_table(TableName=table)


def _attribute_values(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    names = st.text("abcxyz_", min_size=1, max_size=6)
    numbers = st.integers(-10**6, 10**6).map(str)
    scalars = st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=12)), st.builds(lambda n: {"N": n}, numbers),
        st.builds(lambda b: {"B": b}, st.binary(max_size=8)), st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=3)),
        st.builds(lambda s: {"NS": sorted(s)}, st.sets(numbers, min_size=1, max_size=3)),
        st.builds(lambda s: {"BS": sorted(s)}, st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3)))
    if depth == 0:
        return scalars
    inner = _attribute_values(depth - 1)
    return st.one_of(scalars, st.builds(lambda m: {"M": m}, st.dictionaries(names, inner, max_size=3)),
                     st.builds(lambda values: {"L": values}, st.lists(inner, max_size=3)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.dictionaries(st.text("abcdef", min_size=1, max_size=5), _attribute_values(), max_size=4),
                      min_size=1, max_size=4))
def test_dynamodb_items_of_every_type_read_the_same(edge_client: Any, answer_both: Any,
                                                    items: list[dict[str, Any]]) -> None:
    dynamodb = edge_client("dynamodb", "us-west-2")
    with new_table(dynamodb, "picked") as table:
        for number, item in enumerate(items):
            dynamodb.put_item(TableName=table, Item={**item, "pk": {"S": f"item-{number}"}})
        moto_s, ours = answer_both(lambda: dynamodb.scan(TableName=table, ConsistentRead=True))
        assert ours == moto_s and len(ours["Items"]) == len(items)
        key = {"pk": {"S": "item-0"}}
        assert answer_both(lambda: dynamodb.get_item(TableName=table, Key=key))[1]["Item"]["pk"] == key["pk"]
        moto_s, ours = answer_both(lambda: dynamodb.describe_table(TableName=table))
        assert ours == moto_s


def test_model_objects_of_the_query_and_xml_protocols_read_the_same(edge_client: Any, answer_both: Any) -> None:
    """EC2 (its response transformers too), IAM, Route 53 (REST-XML) and CloudWatch read moto's model objects."""
    ec2 = edge_client("ec2", "us-west-2")
    vpc = ec2.create_vpc(CidrBlock="127.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.99.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g-{uuid.uuid4().hex[:6]}", Description="d", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "127.0.0.0/8"}]}])
    iam = edge_client("iam")
    role = f"picked-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
                    Tags=[{"Key": "k", "Value": "v"}])
    route53 = edge_client("route53")
    zone = route53.create_hosted_zone(Name=f"{role}.example.", CallerReference=role)["HostedZone"]["Id"]
    cloudwatch = edge_client("cloudwatch", "us-west-2")
    cloudwatch.put_metric_alarm(AlarmName=role, MetricName="Latency", Namespace="Picked", Statistic="Average",
                                Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                                Dimensions=[{"Name": "Region", "Value": "us-west-2"}])
    try:
        for call in (lambda: ec2.describe_vpcs(VpcIds=[vpc]), lambda: ec2.describe_subnets(SubnetIds=[subnet]),
                     lambda: ec2.describe_security_groups(GroupIds=[group]),
                     lambda: iam.get_role(RoleName=role), lambda: iam.list_role_tags(RoleName=role),
                     lambda: route53.get_hosted_zone(Id=zone), lambda: route53.list_resource_record_sets(HostedZoneId=zone),
                     lambda: cloudwatch.describe_alarms(AlarmNames=[role])):
            moto_s, ours = answer_both(call)
            assert ours == moto_s
            assert ours  # not two empty answers
    finally:
        cloudwatch.delete_alarms(AlarmNames=[role])
        route53.delete_hosted_zone(Id=zone)
        iam.delete_role(RoleName=role)
        ec2.delete_security_group(GroupId=group)
        ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)


def test_a_binary_attribute_is_base64_once_on_the_wire(edge: Any, edge_client: Any) -> None:
    """The raw body, not a parsed one: a blob is encoded exactly once."""
    dynamodb = edge_client("dynamodb", "us-west-2")
    with new_table(dynamodb, "raw") as table:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "b": {"B": b"\x00\x01\xff"}})
        body = json.dumps({"TableName": table, "Key": {"pk": {"S": "a"}}}).encode()
        answer = signed(edge, "dynamodb", "POST", "/", body, region="us-west-2", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["Item"] == {"pk": {"S": "a"}, "b": {"B": base64.b64encode(b"\x00\x01\xff").decode()}}
