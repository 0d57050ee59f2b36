"""moto's instance-type offerings are read per Region on first use, and answer as moto's tables did."""
from __future__ import annotations

from typing import Any

from moto.ec2.models import instance_types
from moto.utilities.utils import load_resource

from stack.local.controlplane import offerings


def test_every_location_types_table_is_read_per_region() -> None:
    offerings.on_demand()
    tables = instance_types.INSTANCE_TYPE_OFFERINGS
    assert set(tables) == {"availability-zone", "availability-zone-id", "region"}
    # If this fails after a moto upgrade, its tables are no longer one file per Region: update on_demand().
    assert all(isinstance(table, offerings.RegionOfferings) for table in tables.values())
    assert {"us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"} <= set(tables["region"])


def test_a_regions_offerings_are_moto_s_file_read_once() -> None:
    table = offerings.RegionOfferings("availability-zone", {
        "us-west-2": "ec2/resources/instance_type_offerings/availability-zone/us-west-2.json"})
    expected = [dict(o, LocationType="availability-zone")
                for o in load_resource("ec2/resources/instance_type_offerings/availability-zone/us-west-2.json")]
    first = table["us-west-2"]
    assert first == expected and table["us-west-2"] is first
    assert table.get("us-east-1") is None and list(table) == ["us-west-2"] and len(table) == 1


def test_the_api_lists_offerings_of_any_region(edge_client: Any) -> None:
    for region in ("us-west-2", "eu-west-3"):
        found = edge_client("ec2", region).describe_instance_type_offerings(
            LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}])
        zones = {o["Location"] for o in found["InstanceTypeOfferings"]}
        assert zones and all(z.startswith(region) for z in zones)
        assert {o["LocationType"] for o in found["InstanceTypeOfferings"]} == {"availability-zone"}
