"""`gameday stack build --dry-run | --attach` and `gameday stack teardown` in an aws environment, against moto.

moto runs in this process (mock_aws): no request leaves it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import yaml
from moto import mock_aws

from environments import loader
from base import runid
from gameday import cli
from stack import builder
from stack.local.controlplane.rds import fix_cross_region_replicas

MOTO_ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"]


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    """An aws environment file for moto's account, and a client factory for checking."""
    fix_cross_region_replicas()
    document = yaml.safe_load((Path(loader.__file__).parent / "aws-example.yaml").read_text())
    document.update(account_id=MOTO_ACCOUNT, name="moto", stop_conditions=[])
    path = tmp_path / "moto.yaml"
    path.write_text(yaml.safe_dump(document))
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                        "GAMEDAY_JOURNAL_DIR": str(tmp_path / "journal"),
                        # A call moto does not take fails on a closed loopback port instead of leaving the machine.
                        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # Plain moto ignores UpdateTable's ReplicaUpdates: the CLI's builds here leave out the catalog global table.
    with_environ = builder.options_from_environ
    monkeypatch.setattr(builder, "options_from_environ", lambda *a, **given: with_environ(*a, catalog=False, **given))
    with mock_aws():
        session = boto3.session.Session()
        yield str(path), lambda service, region: session.client(service, region_name=region)


def _nothing_exists(client: Any) -> None:
    for region in REGIONS:
        ec2, rds = client("ec2", region), client("rds", region)
        assert [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == [], region
        assert [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                if i["State"]["Name"] != "terminated"] == [], region  # terminated ones stay listed a while, as on AWS
        assert rds.describe_db_instances()["DBInstances"] == [], region
        assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == [], region
        assert client("secretsmanager", region).list_secrets()["SecretList"] == [], region
    route53 = client("route53", "us-east-1")
    assert route53.list_hosted_zones()["HostedZones"] == [] and route53.list_health_checks()["HealthChecks"] == []


def test_dry_run_prints_each_regions_resources_and_cost_and_creates_nothing(aws: tuple[str, Any],
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path, client = aws
    assert cli.main(["stack", "build", "--env", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "nothing was created" in out
    for region in REGIONS:
        assert f"\n{region}  (USD " in out
    ami = client("ssm", "eu-central-1").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    assert f"2 x t3.micro checkout ({ami})" in out
    assert "DB instance    orders db.t3.micro PostgreSQL Multi-AZ, 20 GB gp2" in out
    assert "DB instance    orders-replica db.t3.micro PostgreSQL read replica" in out
    assert "hosted zone    securecart.example.com." in out and "health checks  8 HTTP" in out
    assert "record sets named checkout.securecart.example.com." in out
    assert "estimated cost: USD " in out and "an estimate from on-demand list prices recorded" in out
    _nothing_exists(client)


def test_attach_prints_the_stack_found_by_its_tags_and_teardown_removes_the_build(
        aws: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    path, client = aws
    environment = loader.load(path)
    built = builder.Builder(environment, client, builder.BuildOptions(
        wait_delay_s=0.01, run_id="run-cli", catalog=False, checkout_package="gameday[local] @ https://example.com/g.whl")).build()

    assert cli.main(["stack", "build", "--env", path, "--attach"]) == 0
    out = capsys.readouterr().out
    assert f"reference stack found by its tags in account {MOTO_ACCOUNT} (hosted zone securecart.example.com. " \
           f"{built.zone_id})" in out
    assert all(i.instance_id in out and i.health_check_id in out for i in built.instances)

    assert cli.main(["stack", "teardown", "--env", path, "--run-id", "run-cli", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: teardown of run run-cli would delete" in out and built.zone_id in out
    assert client("route53", "us-east-1").list_hosted_zones()["HostedZones"]  # still there

    assert cli.main(["stack", "teardown", "--env", path, "--run-id", "run-cli"]) == 0
    assert f"deleted hosted-zone {built.zone_id}" in capsys.readouterr().out
    _nothing_exists(client)
    assert cli.main(["stack", "teardown", "--env", path, "--run-id", "run-cli"]) == 0
    assert "nothing of run run-cli" in capsys.readouterr().out


def test_attach_to_a_missing_stack_is_one_usage_error(aws: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = aws
    assert cli.main(["stack", "build", "--env", path, "--attach"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("gameday: attaching to the stack tagged gameday:stack=securecart in moto: no hosted zone "
                            "securecart.example.com. carries gameday:stack=securecart")
    assert "no read replica in ap-southeast-1" in error


def test_an_aws_build_without_a_checkout_package_names_the_variable(aws: tuple[str, Any],
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path, client = aws
    monkeypatch.delenv("GAMEDAY_CHECKOUT_PACKAGE", raising=False)
    assert cli.main(["stack", "build", "--env", path]) == 2
    assert "set GAMEDAY_CHECKOUT_PACKAGE to a pip requirement" in capsys.readouterr().err
    _nothing_exists(client)  # refused before the first resource


def test_build_prints_its_run_id_and_teardown_of_that_run_leaves_nothing(aws: tuple[str, Any],
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path, client = aws
    monkeypatch.setenv("GAMEDAY_CHECKOUT_PACKAGE", "gameday[local] @ https://example.com/gameday-0.1.0-py3-none-any.whl")
    monkeypatch.setenv("GAMEDAY_RUN_ID", "cli-build-1")
    monkeypatch.setattr(runid, "_current", None)  # this process's run id is read once; read it again
    assert cli.main(["stack", "build", "--env", path]) == 0
    out = capsys.readouterr().out
    assert f"reference stack built in account {MOTO_ACCOUNT}" in out
    assert "run id          cli-build-1: `gameday stack teardown --run-id cli-build-1`" in out
    instance = client("ec2", "us-east-1").describe_instances()["Reservations"][0]["Instances"][0]
    assert {t["Key"]: t["Value"] for t in instance["Tags"]}["gameday:run"] == "cli-build-1"

    assert cli.main(["stack", "teardown", "--env", path, "--run-id", "cli-build-1"]) == 0
    _nothing_exists(client)
