"""The checkout instances' image: the latest Amazon Linux 2023, found through AWS's public SSM parameter.

AWS publishes the current AMI id of each Amazon Linux 2023 flavour, per Region, as a public Systems
Manager parameter under ``/aws/service/ami-amazon-linux-latest/``. The builder reads the one for the
default kernel and the instance type's architecture (DescribeInstanceTypes says which), so a build never
names a stale or foreign image. moto serves these parameters, so the same lookup runs on the local stack.
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from base.errors import BuildError

PARAMETER_PREFIX = "/aws/service/ami-amazon-linux-latest/"
# The default-kernel AL2023 images, by EC2 architecture name (ProcessorInfo.SupportedArchitectures).
PARAMETERS = {
    "x86_64": PARAMETER_PREFIX + "al2023-ami-kernel-default-x86_64",
    "arm64": PARAMETER_PREFIX + "al2023-ami-kernel-default-arm64",
}


def architecture(ec2: Any, instance_type: str, region: str) -> str:
    """The architecture ``instance_type`` runs (x86_64 or arm64). Raises BuildError for an unknown type."""
    try:
        described = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    except ClientError as error:
        raise BuildError(f"instance type {instance_type!r} is not offered in {region}: "
                         f"{error.response['Error'].get('Message')}") from error
    supported = described[0]["ProcessorInfo"]["SupportedArchitectures"] if described else []
    for name in PARAMETERS:
        if name in supported:
            return name
    raise BuildError(f"instance type {instance_type!r} in {region} supports {supported or 'no architecture'}; "
                     f"Amazon Linux 2023 images exist for {', '.join(PARAMETERS)}")


def parameter_name(architecture_name: str) -> str:
    return PARAMETERS[architecture_name]


def image_id(ssm: Any, ec2: Any, instance_type: str, region: str) -> str:
    """The current AL2023 AMI id for ``instance_type`` in ``region``.

    Raises BuildError naming the parameter and the Region when the parameter is missing there."""
    name = parameter_name(architecture(ec2, instance_type, region))
    try:
        value = str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except ClientError as error:
        if error.response["Error"].get("Code") != "ParameterNotFound":
            raise
        raise BuildError(f"the Amazon Linux 2023 image parameter {name} does not exist in {region}: the Region does "
                         "not publish it (or the endpoint does not serve it); choose a Region that does") from error
    if not value.startswith("ami-"):
        raise BuildError(f"the parameter {name} in {region} holds {value!r}, not an AMI id")
    return value
