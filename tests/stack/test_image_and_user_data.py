"""The checkout instances' image (the public AL2023 SSM parameter) and user data (a boot script carrying the config)."""
from __future__ import annotations

import base64
import io
import json
import math
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from environments import loader
from stack import ami, builder, ec2boot, userdata
from stack.handles import DatabaseHandle, ReferenceStack
from stack.local.controlplane.rds import fix_cross_region_replicas
from stack.local.ec2.checkout import config as checkout_config
from stack.local.ec2.contract import CheckoutUserData
from stack.local.ec2.errors import UserDataError

X86 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
ARM = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
DATABASE = DatabaseHandle("orders", "us-east-1", "orders.abc.us-east-1.rds.amazonaws.com", 5432, True,
                          "securecart/orders/master")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    fix_cross_region_replicas()
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        yield lambda service, region: session.client(service, region_name=region)


@pytest.fixture(scope="module")
def built(client: Any) -> ReferenceStack:
    return builder.Builder(loader.load("local"), client, builder.BuildOptions(wait_delay_s=0.01, catalog=False)).build()


# -- the image ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("instance_type, parameter", [("t3.micro", X86), ("t4g.micro", ARM)])
def test_the_image_is_the_al2023_parameter_of_the_instance_types_architecture(client: Any, instance_type: str,
                                                                           parameter: str) -> None:
    for region in ("us-east-1", "ap-southeast-1"):
        expected = client("ssm", region).get_parameter(Name=parameter)["Parameter"]["Value"]
        assert ami.image_id(client("ssm", region), client("ec2", region), instance_type, region) == expected


def test_the_builder_launches_checkout_from_that_image(built: ReferenceStack, client: Any) -> None:
    for region in ("us-east-1", "eu-central-1"):
        expected = client("ssm", region).get_parameter(Name=X86)["Parameter"]["Value"]
        ids = [i.instance_id for i in built.instances_in(region)]
        described = client("ec2", region).describe_instances(InstanceIds=ids)["Reservations"]
        assert {i["ImageId"] for r in described for i in r["Instances"]} == {expected}


def test_a_missing_parameter_is_an_error_naming_it_and_the_region(client: Any) -> None:
    ssm = boto3.client("ssm", region_name="eu-south-2", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(ssm) as stub:
        stub.add_client_error("get_parameter", "ParameterNotFound", expected_params={"Name": X86})
        with pytest.raises(builder.BuildError, match=f"parameter {X86} does not exist in eu-south-2"):
            ami.image_id(ssm, client("ec2", "us-east-1"), "t3.micro", "eu-south-2")


def test_an_unknown_instance_type_is_named(client: Any) -> None:
    with pytest.raises(builder.BuildError, match="instance type 'q9.huge' is not offered in us-east-1"):
        ami.image_id(client("ssm", "us-east-1"), client("ec2", "us-east-1"), "q9.huge", "us-east-1")


# -- the user data -----------------------------------------------------------------------------------

def _rendered() -> str:
    return builder.checkout_user_data(DATABASE, "orders.db.securecart.example.com.", 8080,
                                      "gameday[local] @ https://example.com/gameday-0.1.0-py3-none-any.whl")


def test_the_user_data_is_a_valid_shell_script_cloud_init_runs() -> None:
    script = _rendered()
    assert script.startswith("#!/bin/bash\n")  # cloud-init runs user data starting with #! as a script
    subprocess.run(["bash", "-n"], input=script.encode(), check=True)  # it parses as shell
    assert "dnf install -y python3.11" in script and "systemctl enable --now securecart-checkout.service" in script
    assert "pip install --quiet 'gameday[local] @ https://example.com/gameday-0.1.0-py3-none-any.whl'" in script
    assert "ExecStart=/opt/securecart/venv/bin/python -m stack.ec2boot /etc/securecart/checkout.json" in script


def test_the_user_data_carries_the_checkout_configuration() -> None:
    script = _rendered()
    expected = {"db_endpoint": "orders.db.securecart.example.com", "db_port": 5432, "db_region": "us-east-1",
                "db_name": "securecart", "db_secret_id": "securecart/orders/master", "port": 8080}
    assert json.loads(userdata.config_of(script) or "null") == expected
    # The local stack's EC2 part reads it the same way, plain or base64 as DescribeInstanceAttribute returns it.
    for given in (script, base64.b64encode(script.encode()).decode()):
        parsed = CheckoutUserData.parse(given, "i-0123456789abcdef0")
        assert parsed == CheckoutUserData(**expected)


def test_the_user_data_fits_ec2s_16_kb_limit() -> None:
    raw = len(_rendered().encode())
    assert raw <= userdata.MAX_BYTES == 16384
    assert len(base64.b64encode(_rendered().encode())) == 4 * math.ceil(raw / 3) <= 4 * math.ceil(16384 / 3)
    with pytest.raises(builder.BuildError, match=r"the checkout user data is \d+ bytes; EC2 allows 16384 bytes"):
        userdata.render({"db_endpoint": "x"}, "p" * 16384)


def test_a_script_without_the_configuration_is_refused_by_the_local_part() -> None:
    with pytest.raises(UserDataError, match="i-0123456789abcdef0: UserData is a script without the checkout config"):
        CheckoutUserData.parse("#!/bin/bash\necho hello\n", "i-0123456789abcdef0")


def test_the_instance_carries_the_rendered_user_data(built: ReferenceStack, client: Any) -> None:
    instance = built.instances_in("us-east-1")[0]
    value = client("ec2", "us-east-1").describe_instance_attribute(
        InstanceId=instance.instance_id, Attribute="userData")["UserData"]["Value"]
    parsed = CheckoutUserData.parse(value, instance.instance_id)
    assert built.database is not None
    password = json.loads(client("secretsmanager", "us-east-1").get_secret_value(
        SecretId=built.database.secret_id)["SecretString"])["password"]
    assert password not in base64.b64decode(value).decode()  # the instance reads it from the secret
    assert (parsed.db_endpoint, parsed.db_secret_id, parsed.port) == (
        "orders.db.securecart.example", built.database.secret_id, 8080)


def test_an_aws_build_without_a_checkout_package_is_refused_before_any_instance(client: Any) -> None:
    environment = loader.load("aws-example")
    made = builder.Builder(environment, client, builder.BuildOptions(wait_delay_s=0.01, catalog=False))
    with pytest.raises(builder.BuildError, match="GAMEDAY_CHECKOUT_PACKAGE"):
        made.build()
    assert client("ec2", "us-west-2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.20.0.0/16"]}])["Vpcs"] == []


# -- the boot program on the instance ---------------------------------------------------------------

class _Answer(io.BytesIO):
    def __enter__(self) -> "_Answer":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def test_boot_reads_the_identity_through_imdsv2_and_starts_checkout_with_the_local_options(
        client: Any, tmp_path: Path) -> None:
    asked: list[tuple[str, str, dict[str, str]]] = []
    answers = {"/latest/api/token": "tok", "/latest/meta-data/instance-id": "i-0123456789abcdef0",
               "/latest/meta-data/placement/region": "us-east-1",
               "/latest/meta-data/placement/availability-zone": "us-east-1b"}

    def opener(request: urllib.request.Request) -> _Answer:
        asked.append((request.get_method(), request.full_url, dict(request.header_items())))
        return _Answer(answers[request.full_url.removeprefix(ec2boot.IMDS)].encode())

    identity = ec2boot.metadata(opener)
    assert identity == ec2boot.Identity("i-0123456789abcdef0", "us-east-1", "us-east-1b")
    assert asked[0][0] == "PUT" and all(h.get("X-aws-ec2-metadata-token") == "tok" for _, _, h in asked[1:])

    client("secretsmanager", "us-east-1").create_secret(
        Name="boot/orders/master", SecretString=json.dumps({"username": "securecart", "password": "s3cret"}))
    config = CheckoutUserData.parse(userdata.config_of(builder.checkout_user_data(
        DatabaseHandle("orders", "us-east-1", None, 5432, True, "boot/orders/master"), "orders.db.z.example.", 8080))
        or "", identity.instance_id)
    user, password = ec2boot.credentials(config, identity.region, lambda region: client("secretsmanager", region))
    assert (user, password) == ("securecart", "s3cret")
    password_file = tmp_path / "pw"
    password_file.write_text(password)
    argv = ec2boot.checkout_argv(config, identity, user, password_file, python="python3")
    assert argv[:3] == ["python3", "-m", "stack.local.ec2.checkout"]
    parsed = checkout_config.parse(argv[3:])  # checkout's own option parser accepts them
    assert (parsed.listen.host, parsed.listen.port) == ("0.0.0.0", 8080)
    assert (parsed.dns_host, parsed.dns_port) == ("169.254.169.253", 53)
    assert parsed.database is not None
    assert (parsed.database.endpoint, parsed.database.user, parsed.database.password, parsed.database.database) == (
        "orders.db.z.example", "securecart", "s3cret", "securecart")
