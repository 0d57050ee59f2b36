"""In-process access to moto's stored state, for validators that must look something up.

Validators and the RDS store (rdsstore.py) read moto's models directly (the control plane *is* the
emulator); data planes never do: they go through boto3 like any user, or through a service the control
plane provides (stack.local.services.RdsStore).
"""
from __future__ import annotations

from typing import Any

ACCOUNT_ID = "123456789012"  # moto's account for any access key that is not a real one


def route53() -> Any:
    from moto.route53.models import route53_backends

    return route53_backends[ACCOUNT_ID]["aws"]


def ec2(region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT_ID][region]


def rds(region: str) -> Any:
    from moto.rds.models import rds_backends

    return rds_backends[ACCOUNT_ID][region]


def dynamodb(region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT_ID][region]


def cloudwatch(region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ACCOUNT_ID][region]


def cloudfront() -> Any:
    from moto.cloudfront.models import cloudfront_backends

    return cloudfront_backends[ACCOUNT_ID]["aws"]


def wafv2_web_acl_arns() -> set[str]:
    """Every WAFv2 web ACL's ARN, in whichever Region moto keeps it (CLOUDFRONT scope: us-east-1 or "global")."""
    from moto.wafv2.models import wafv2_backends

    return {arn for backend in list(wafv2_backends[ACCOUNT_ID].values()) for arn in list(backend.wacls)}
