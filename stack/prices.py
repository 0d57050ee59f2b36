"""A small, dated table of AWS on-demand list prices, for the dry run's hourly cost estimate.

An estimate, not a quote: the prices were copied by hand from the public AWS pricing pages on the date
below (never fetched: gameday does not call the Pricing API), for Linux on-demand usage, without the free
tier, taxes, data transfer, request charges or savings plans. A Region missing from a row is estimated at
the us-east-1 price and the estimate says so. Update the table (and the date) when prices change.

Sources: https://aws.amazon.com/ec2/pricing/on-demand/ , https://aws.amazon.com/rds/postgresql/pricing/ ,
https://aws.amazon.com/ebs/pricing/ , https://aws.amazon.com/route53/pricing/
"""
from __future__ import annotations

from dataclasses import dataclass

RECORDED = "2026-12-03"
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates
BASE_REGION = "us-east-1"

# USD per instance-hour, by instance type and Region.
EC2_HOURLY = {
    "t3.micro": {"us-east-1": 0.0104, "us-west-2": 0.0104, "eu-central-1": 0.012, "ap-southeast-1": 0.0132},
}
# USD per DB instance-hour, PostgreSQL, Single-AZ (a Multi-AZ instance is billed for its standby too: twice).
RDS_POSTGRES_HOURLY = {
    "db.t3.micro": {"us-east-1": 0.018, "us-west-2": 0.018},
}
RDS_GP2_GB_MONTH = {"us-east-1": 0.115}  # Single-AZ; Multi-AZ twice
EBS_GP3_GB_MONTH = {"us-east-1": 0.08}
ROUTE53_ZONE_MONTH = 0.50  # per hosted zone (the first 25)
ROUTE53_HEALTH_CHECK_MONTH = 0.50  # per basic health check of an AWS endpoint
AL2023_ROOT_VOLUME_GB = 8  # the AL2023 AMI's root volume


@dataclass(frozen=True)
class Price:
    usd: float
    region_known: bool  # False: the us-east-1 price stood in for this Region


def _look_up(table: dict[str, float], region: str) -> Price:
    if region in table:
        return Price(table[region], True)
    return Price(table[BASE_REGION], False)


def ec2_hourly(instance_type: str, region: str) -> Price | None:
    by_region = EC2_HOURLY.get(instance_type)
    return _look_up(by_region, region) if by_region else None


def rds_hourly(instance_class: str, region: str, multi_az: bool) -> Price | None:
    by_region = RDS_POSTGRES_HOURLY.get(instance_class)
    if not by_region:
        return None
    price = _look_up(by_region, region)
    return Price(price.usd * (2 if multi_az else 1), price.region_known)


def rds_storage_hourly(gb: int, region: str, multi_az: bool) -> Price:
    price = _look_up(RDS_GP2_GB_MONTH, region)
    return Price(price.usd * gb * (2 if multi_az else 1) / HOURS_PER_MONTH, price.region_known)


def ebs_hourly(gb: int, region: str) -> Price:
    price = _look_up(EBS_GP3_GB_MONTH, region)
    return Price(price.usd * gb / HOURS_PER_MONTH, price.region_known)


def monthly_as_hourly(usd_per_month: float) -> Price:
    return Price(usd_per_month / HOURS_PER_MONTH, True)  # Route 53 is global: one price
