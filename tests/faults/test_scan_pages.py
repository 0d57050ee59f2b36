"""`gameday scan` reads every page: a leftover on the second page of a Describe call is still found.

moto returns everything on one page, so these responses come from botocore's Stubber, which checks
both the request parameters and the response shapes against EC2's service model.
"""
from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from faults import leftovers
from faults.base import FAULT_TAG

REGION = "us-east-1"
STACK = ("gameday:stack", "securecart")
STACK_FILTER = [{"Name": "tag:gameday:stack", "Values": ["securecart"]}]
STOPPED = STACK_FILTER + [{"Name": "instance-state-name", "Values": ["stopped", "stopping"]}]


def _acl(acl_id: str, vpc: str, tags: list[dict[str, str]], subnet: str | None = None, default: bool = False) -> dict[str, Any]:
    associations = [{"NetworkAclAssociationId": f"aclassoc-{acl_id}", "NetworkAclId": acl_id, "SubnetId": subnet}] if subnet else []
    return {"NetworkAclId": acl_id, "VpcId": vpc, "IsDefault": default, "Tags": tags, "Associations": associations,
            "Entries": []}


def test_scan_finds_leftovers_on_later_pages() -> None:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    made = {service: session.client(service, region_name="us-east-1") for service in ("ec2", "fis", "route53")}
    stubs = {service: Stubber(client) for service, client in made.items()}
    ec2 = stubs["ec2"]
    ec2.add_response("describe_network_acls", {"NetworkAcls": [_acl("acl-default", "vpc-1", [], default=True)],
                                               "NextToken": "page2"}, {})
    ec2.add_response("describe_network_acls", {"NetworkAcls": [
        _acl("acl-fault", "vpc-1", [{"Key": FAULT_TAG, "Value": "entry-1"}], subnet="subnet-1")]}, {"NextToken": "page2"})
    ec2.add_response("describe_vpcs", {"Vpcs": [], "NextToken": "page2"}, {"Filters": STACK_FILTER})
    ec2.add_response("describe_vpcs", {"Vpcs": [{"VpcId": "vpc-1"}]}, {"Filters": STACK_FILTER, "NextToken": "page2"})
    stubs["fis"].add_response("list_experiment_templates", {"experimentTemplates": []}, {})
    stubs["fis"].add_response("list_experiments", {"experiments": []}, {})
    ec2.add_response("describe_instances", {"Reservations": [], "NextToken": "page2"}, {"Filters": STOPPED})
    ec2.add_response("describe_instances", {"Reservations": [{"Instances": [{
        "InstanceId": "i-0123456789abcdef0", "State": {"Name": "stopped", "Code": 80},
        "Placement": {"AvailabilityZone": "us-east-1a"}}]}]}, {"Filters": STOPPED, "NextToken": "page2"})
    stubs["route53"].add_response("list_health_checks", {"HealthChecks": [], "Marker": "", "IsTruncated": False,
                                                         "MaxItems": "100"}, {})
    for stub in stubs.values():
        stub.activate()

    found = leftovers.scan(lambda service, region: made[service], [REGION], STACK)

    for stub in stubs.values():
        stub.assert_no_pending_responses()
    assert {(item.kind, item.resource) for item in found} == {
        ("network-acl", "acl-fault"),                # page 2 of DescribeNetworkAcls
        ("swapped-association", "subnet-1"),         # the stack's VPC is on page 2 of DescribeVpcs
        ("stopped-instance", "i-0123456789abcdef0"),  # page 2 of DescribeInstances
    }
