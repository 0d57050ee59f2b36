"""The Outposts API from the environment, subnets on an Outpost, and launches while its service link is down."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stack.local.controlplane.app import ControlPlane
from stack.local.endpoint import AwsEndpoint
from stack.local.part import LOCAL_CREDENTIALS
from stack.local.services import SiteLinks
from tests.conftest import worker_index

STORE_1 = "op-0a1b2c3d4e5f60001"
ARN_1 = f"arn:aws:outposts:us-east-1:123456789012:outpost/{STORE_1}"


class Links:
    """A fake fabric: the stores' service links, and which (site, Region, kind) are cut."""

    def __init__(self) -> None:
        self.cut: set[tuple[str, str, str]] = set()

    def set_link_state(self, link_id: str, up: bool) -> None:
        raise NotImplementedError

    def set_bfd(self, link_id: str, enabled: bool) -> None:
        raise NotImplementedError

    def link_states(self) -> list[Mapping[str, Any]]:
        return [{"link_id": f"{site}/service-link", "site": site, "region": "us-east-1", "kind": "service_link",
                 "up": (site, "us-east-1", "service_link") not in self.cut, "advertised": True}
                for site in ("store-nyc", "store-philly")]


@pytest.fixture(scope="module")
def plane() -> Iterator[tuple[AwsEndpoint, Links]]:
    control = ControlPlane()
    links = Links()
    control.services.provide(SiteLinks, links, by="a fake fabric")
    server = AwsEndpoint(control, f"127.0.{worker_index() + 20}.4", 0)
    server.start()
    try:
        yield server, links
    finally:
        server.stop()


def _client(server: AwsEndpoint, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(service, region_name=region, endpoint_url=server.url,
                        config=Config(retries={"max_attempts": 1}), **LOCAL_CREDENTIALS)


def test_outposts_api_answers_from_the_environment(plane: tuple[AwsEndpoint, Links]) -> None:
    outposts = _client(plane[0], "outposts")
    listed = outposts.list_outposts()["Outposts"]
    assert {o["OutpostId"] for o in listed} == {STORE_1, "op-0a1b2c3d4e5f60002"}
    one = outposts.get_outpost(OutpostId=ARN_1)["Outpost"]
    assert (one["Name"], one["AvailabilityZone"], one["OutpostArn"]) == ("store-nyc", "us-east-1a", ARN_1)
    assert one["AvailabilityZoneId"] == "use1-az1"
    assert [o["OutpostId"] for o in outposts.list_outposts(AvailabilityZoneFilter=["us-east-1b"])["Outposts"]] == \
        ["op-0a1b2c3d4e5f60002"]
    first = outposts.list_sites(MaxResults=1)
    assert len(first["Sites"]) == 1 and first["NextToken"]
    rest = outposts.list_sites(MaxResults=1, NextToken=first["NextToken"])
    assert {s["Name"] for s in first["Sites"] + rest["Sites"]} == {"store-nyc", "store-philly"} and "NextToken" not in rest
    with pytest.raises(ClientError) as missing:
        outposts.get_outpost(OutpostId="op-00000000000000000")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as elsewhere:  # the Outpost's parent is us-east-1, not us-west-2
        _client(plane[0], "outposts", "us-west-2").get_outpost(OutpostId=STORE_1)
    assert elsewhere.value.response["Error"]["Code"] == "NotFoundException"


def test_subnet_on_an_outpost_carries_its_arn_and_an_unknown_outpost_is_refused(plane: tuple[AwsEndpoint, Links]) -> None:
    ec2 = _client(plane[0], "ec2")
    vpc = ec2.create_vpc(CidrBlock="127.60.0.0/16")["Vpc"]["VpcId"]
    try:
        created = ec2.create_subnet(VpcId=vpc, CidrBlock="127.60.9.0/24", AvailabilityZone="us-east-1a", OutpostArn=ARN_1)
        subnet = created["Subnet"]["SubnetId"]
        assert created["Subnet"]["OutpostArn"] == ARN_1
        described = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
        assert described["OutpostArn"] == ARN_1
        with pytest.raises(ClientError) as unknown:
            ec2.create_subnet(VpcId=vpc, CidrBlock="127.60.10.0/24", AvailabilityZone="us-east-1a",
                              OutpostArn=ARN_1.replace("60001", "6000f"))
        assert unknown.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert "outpostArn" in unknown.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as zone:
            ec2.create_subnet(VpcId=vpc, CidrBlock="127.60.11.0/24", AvailabilityZone="us-east-1b", OutpostArn=ARN_1)
        assert zone.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]) == 1
    finally:
        for found in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=found["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)


def test_launching_on_an_outpost_fails_while_its_service_link_is_down(plane: tuple[AwsEndpoint, Links]) -> None:
    server, links = plane
    ec2 = _client(server, "ec2")
    vpc = ec2.create_vpc(CidrBlock="127.61.0.0/16")["Vpc"]["VpcId"]
    outpost_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.61.9.0/24", AvailabilityZone="us-east-1a",
                                       OutpostArn=ARN_1)["Subnet"]["SubnetId"]
    region_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.61.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    launched = []
    try:
        launched.append(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=outpost_subnet)["Instances"][0])
        links.cut.add(("store-nyc", "us-east-1", "service_link"))
        with pytest.raises(ClientError) as refused:
            ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=outpost_subnet)
        assert refused.value.response["Error"]["Code"] == "Unavailable"
        assert STORE_1 in refused.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as stop:  # the Region cannot reach the rack's hosts either
            ec2.stop_instances(InstanceIds=[launched[0]["InstanceId"]])
        assert stop.value.response["Error"]["Code"] == "Unavailable"
        # The Region's own subnets, and what already runs on the Outpost, are untouched.
        launched.append(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=region_subnet)["Instances"][0])
        state = ec2.describe_instances(InstanceIds=[launched[0]["InstanceId"]])["Reservations"][0]["Instances"][0]["State"]
        assert state["Name"] == "running"
        links.cut.clear()
        launched.append(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=outpost_subnet)["Instances"][0])
    finally:
        links.cut.clear()
        if launched:
            ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in launched])
        for subnet in (outpost_subnet, region_subnet):
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)
