"""On the session's local stack: the default VPC works end to end, and a rejected NACL entry leaves the fabric enforcing."""
from __future__ import annotations

import os
from typing import Any, Callable

import dns.message
import dns.query
import dns.rdatatype
import pg8000.native
import pytest
from botocore.exceptions import ClientError

from faults.network import IsolateAz
from base import net
from faults.journal import Journal
from stack.handles import ReferenceStack
from tests.stack.waiting import until

REGION = "us-east-1"
PASSWORD = "default-vpc-Pa55"


def _until(condition: Callable[[], Any], what: str, timeout_s: float = 240) -> Any:
    return until(condition, what, timeout_s, poll_s=0.5)  # an RDS instance takes minutes: poll gently


def test_db_instance_in_the_default_vpc(local_stack: Any, aws_client: Any) -> None:
    """A client that never creates a VPC: DB subnet group of the default subnets, CreateDBInstance, connect."""
    ec2, rds = aws_client("ec2", REGION), aws_client("rds", REGION)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    name = f"dflt-{os.urandom(3).hex()}"
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="default VPC",
                               SubnetIds=[s["SubnetId"] for s in subnets])
    try:
        rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                               MasterUsername="master", MasterUserPassword=PASSWORD, DBName="shop", DBSubnetGroupName=name)
        try:
            shown = _until(lambda: (d := rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0])
                           ["DBInstanceStatus"] in ("available", "failed") and d, "the DB instance to settle")
            assert shown["DBInstanceStatus"] == "available"
            query = dns.message.make_query(shown["Endpoint"]["Address"], dns.rdatatype.A)
            answer = dns.query.udp(query, local_stack.dns_host, port=local_stack.dns_port, timeout=2)
            address = answer.answer[0][0].to_text()
            assert address.split(".")[:2] == vpc["CidrBlock"].split(".")[:2]  # inside the default VPC
            connection = pg8000.native.Connection("master", password=PASSWORD, host=address, port=shown["Endpoint"]["Port"],
                                                  database="shop", timeout=5, ssl_context=False)
            try:
                assert connection.run("SELECT 40 + 2") == [[42]]
            finally:
                connection.close()
        finally:
            rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
            _until(lambda: not [d for d in rds.describe_db_instances()["DBInstances"] if d["DBInstanceIdentifier"] == name],
                   "the DB instance to be deleted", 120)
    finally:
        rds.delete_db_subnet_group(DBSubnetGroupName=name)


def test_rejected_nacl_entry_leaves_isolation_enforced(stack: ReferenceStack, aws_client: Any, environment: Any,
                                                       tmp_path: Any) -> None:
    """The entry that once broke the fabric's sync is refused, and an AZ isolation in that Region still cuts."""
    target = next(i for i in stack.instances if i.region == "us-west-2")
    ec2 = aws_client("ec2", target.region)
    vpc = ec2.describe_subnets(SubnetIds=[target.subnet_id])["Subnets"][0]["VpcId"]
    spare = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    try:
        with pytest.raises(ClientError) as raised:
            ec2.create_network_acl_entry(NetworkAclId=spare, RuleNumber=10, Protocol="-1", RuleAction="deny", Egress=False,
                                         CidrBlock="999.0.0.0/8")
        assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    finally:
        ec2.delete_network_acl(NetworkAclId=spare)
    source = net.vantage_address(environment.vantage_points["oregon"].subnet)
    session = net.session(source)

    def answers() -> bool:
        try:
            return session.get(f"http://{target.private_ip}:{target.port}/health", timeout=1).status_code == 200
        except OSError:
            return False

    _until(answers, "checkout to answer before the fault", 30)
    fault = IsolateAz(lambda service, region: aws_client(service, region), Journal("test", tmp_path), region=target.region,
                      availability_zone=target.availability_zone, subnet_id=target.subnet_id)
    with fault:
        _until(lambda: not answers(), "the isolation to cut checkout", 30)
    _until(answers, "checkout to answer after the rollback", 30)
