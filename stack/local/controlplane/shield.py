"""Shield Advanced: protections are stored (moto) and checked against the resources that exist.

moto's Shield checks that a protection's ARN names a resource type Shield protects; AWS also refuses
a resource that does not exist (InvalidResourceException: "the resource might not exist"), checked
here for CloudFront distributions, the edge's protected resource. ``ListAttacks`` (moto has none)
answers an empty list: the local stack emulates no DDoS attack, volumetric (L3/L4) or otherwise,
so Shield never detects one; the WAF's rate-based rules are what the bot-flood game day exercises.
"""
from __future__ import annotations

import json
import re
from typing import Any

from stack.local.awserror import AwsError
from stack.local.controlplane import backends
from stack.local.part import ApiRequest, ApiResponse

_DISTRIBUTION = re.compile(r"^arn:aws[a-z-]*:cloudfront::\d{12}:distribution/(?P<id>[A-Z0-9]+)$")


def create_protection(request: ApiRequest, _plane: Any) -> None:
    arn = str(request.params.get("ResourceArn", ""))
    found = _DISTRIBUTION.match(arn)
    if found is None:
        return  # moto checks the other resource types' form
    from moto.cloudfront.models import cloudfront_backends

    if found.group("id") not in cloudfront_backends[backends.ACCOUNT_ID]["aws"].distributions:
        raise AwsError("InvalidResourceException", f"ResourceArn {arn!r}: no CloudFront distribution "
                       f"{found.group('id')} exists in this account")


def list_attacks(request: ApiRequest, _plane: Any) -> ApiResponse:
    return ApiResponse(200, json.dumps({"AttackSummaries": []}).encode(), {"Content-Type": "application/x-amz-json-1.1"})


VALIDATE = {"CreateProtection": create_protection}
ANSWER = {"ListAttacks": list_attacks}
