"""NACL entries: what AWS rejects is rejected before moto stores it; what AWS canonicalises is stored canonical."""
from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def acl(edge_client: Any) -> tuple[Any, str]:
    ec2 = edge_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.40.0.0/16")["Vpc"]["VpcId"]
    return ec2, ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]


def _entries(ec2: Any, acl_id: str) -> list[dict[str, Any]]:
    entries = ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]["Entries"]
    return [e for e in entries if e["RuleNumber"] < 32767]


ANY = {"Protocol": "-1", "CidrBlock": "0.0.0.0/0"}
TCP = {"Protocol": "6", "CidrBlock": "0.0.0.0/0"}


@pytest.mark.parametrize("fields,code,fragment", [
    ({**ANY, "CidrBlock": "300.1.2.3/40"}, "InvalidParameterValue", "Value (300.1.2.3/40) for parameter cidrBlock is invalid"),
    ({**ANY, "CidrBlock": "not-a-cidr"}, "InvalidParameterValue", "not a valid CIDR block"),
    ({**ANY, "CidrBlock": "999.0.0.0/8"}, "InvalidParameterValue", "Value (999.0.0.0/8)"),
    ({**ANY, "CidrBlock": "127.0.0.1"}, "InvalidParameterValue", "not a valid CIDR block"),
    ({**ANY, "CidrBlock": "010.0.0.0/8"}, "InvalidParameterValue", "not a valid CIDR block"),
    ({"Protocol": "-1", "Ipv6CidrBlock": "zz::/200"}, "InvalidParameterValue", "parameter ipv6CidrBlock"),
    ({"Protocol": "-1"}, "MissingParameter", "Either 'cidrBlock' or 'ipv6CidrBlock'"),
    ({**TCP, "PortRange": {"From": -1, "To": 80}}, "InvalidParameterValue", "'-1' for PortRange.From"),
    ({**TCP, "PortRange": {"From": 80, "To": 70000}}, "InvalidParameterValue", "'70000' for PortRange.To"),
    ({**TCP, "PortRange": {"From": 90, "To": 80}}, "InvalidParameterValue", "Invalid port range 90-80"),
    ({**ANY, "Protocol": "xyz"}, "InvalidParameterValue", "Invalid value 'xyz' for IP protocol"),
    ({**ANY, "Protocol": "256"}, "InvalidParameterValue", "Invalid value '256' for IP protocol"),
    (TCP, "MissingParameter", "portRange"),
    ({**TCP, "Protocol": "17"}, "MissingParameter", "portRange"),
    ({**ANY, "Protocol": "1"}, "MissingParameter", "icmpTypeCode"),
])
def test_invalid_entry_is_rejected_and_not_stored(acl: tuple[Any, str], fields: dict[str, Any], code: str, fragment: str) -> None:
    ec2, acl_id = acl
    with pytest.raises(ClientError) as raised:
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=10, RuleAction="deny", Egress=False, **fields)
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, 400)
    assert fragment in error["Error"]["Message"]
    assert _entries(ec2, acl_id) == []


def test_replace_with_invalid_entry_keeps_the_old_one(acl: tuple[Any, str]) -> None:
    ec2, acl_id = acl
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=10, RuleAction="deny", Egress=False, **ANY)
    before = _entries(ec2, acl_id)
    with pytest.raises(ClientError) as raised:
        ec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=10, RuleAction="allow", Egress=False,
                                      Protocol="-1", CidrBlock="999.0.0.0/8")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert _entries(ec2, acl_id) == before


def test_replace_of_a_missing_entry_is_not_found(acl: tuple[Any, str]) -> None:
    ec2, acl_id = acl
    with pytest.raises(ClientError) as raised:
        ec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=77, RuleAction="allow", Egress=False, **ANY)
    assert raised.value.response["Error"]["Code"] == "InvalidNetworkAclEntry.NotFound"


def test_host_bits_are_canonicalised_as_aws_does(acl: tuple[Any, str]) -> None:
    ec2, acl_id = acl
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=10, RuleAction="deny", Egress=False,
                                 Protocol="-1", CidrBlock="127.0.0.1/24")
    assert [e["CidrBlock"] for e in _entries(ec2, acl_id)] == ["127.0.0.0/24"]


def test_ports_of_an_all_protocols_entry_are_not_stored(acl: tuple[Any, str]) -> None:
    # AWS ignores PortRange unless the protocol is TCP or UDP, so nothing half-valid reaches the fabric.
    ec2, acl_id = acl
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=10, RuleAction="deny", Egress=False,
                                 PortRange={"From": -5, "To": 99999}, **ANY)
    assert "PortRange" not in _entries(ec2, acl_id)[0]


def test_valid_tcp_entry_is_stored(acl: tuple[Any, str]) -> None:
    ec2, acl_id = acl
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=10, RuleAction="allow", Egress=True,
                                 PortRange={"From": 80, "To": 90}, **TCP)
    (entry,) = _entries(ec2, acl_id)
    assert entry["PortRange"] == {"From": 80, "To": 90} and entry["Egress"] is True
