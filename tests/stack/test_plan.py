"""The build's dry run: what it lists per Region, and its cost estimate from the dated price table."""
from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from environments import loader
from stack import builder, plan, prices


def test_the_estimate_adds_up_the_table_for_what_the_build_creates() -> None:
    planned = plan.plan(loader.load("aws-example"), builder.BuildOptions(), None, "run-1")
    month = prices.HOURS_PER_MONTH
    ebs = 8 * 0.08 / month  # one instance's root volume
    expected = {
        "us-east-1": 2 * (0.0104 + ebs) + 0.036 + 20 * 0.115 * 2 / month,  # the Multi-AZ writer: twice
        "us-west-2": 2 * (0.0104 + ebs),
        "eu-central-1": 2 * (0.012 + ebs),
        "ap-southeast-1": 2 * (0.0132 + ebs) + 0.018 + 20 * 0.115 / month,  # the replica at the us-east-1 price
        "global": (0.50 + 8 * 0.50) / month,
    }
    for region, hourly in expected.items():
        got = sum(i.hourly.usd for i in planned.items if i.region == region and i.hourly is not None)
        assert got == pytest.approx(hourly), region
    assert planned.hourly_usd == pytest.approx(sum(expected.values()))
    text = plan.render(planned)
    assert f"estimated cost: USD {planned.hourly_usd:.4f} per hour" in text
    assert "* some prices for ap-southeast-1, eu-central-1, us-west-2 are not in the table" in text
    assert f"recorded {prices.RECORDED}" in text and "an estimate" in text


def test_the_plan_counts_the_record_sets_the_build_writes(client: Any) -> None:
    environment = loader.load("local")
    planned = plan.plan(environment, builder.BuildOptions(), None, "run-1")
    [records] = [i for i in planned.items if i.kind == "records"]
    built = builder.Builder(environment, client, builder.BuildOptions(wait_delay_s=0.01, catalog=False)).build()
    zone = client("route53", "us-east-1").list_resource_record_sets(HostedZoneId=built.zone_id)["ResourceRecordSets"]
    written = [r for r in zone if r["Type"] not in ("SOA", "NS")]
    assert records.what.startswith(f"{len(written)} record sets named ")


def test_a_region_without_the_image_parameter_is_a_problem_of_the_plan(client: Any) -> None:
    ssm = boto3.client("ssm", region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stub = Stubber(ssm)
    stub.add_client_error("get_parameter", "ParameterNotFound")
    stub.activate()

    def clients(service: str, region: str) -> Any:
        return ssm if (service, region) == ("ssm", "eu-central-1") else client(service, region)

    planned = plan.plan(loader.load("local"), builder.BuildOptions(), clients, "run-1")
    assert planned.problems == ("the Amazon Linux 2023 image parameter /aws/service/ami-amazon-linux-latest/"
                                "al2023-ami-kernel-default-x86_64 does not exist in eu-central-1: the Region does not "
                                "publish it (or the endpoint does not serve it); choose a Region that does",)
    assert plan.render(planned).endswith("problem: " + planned.problems[0])
