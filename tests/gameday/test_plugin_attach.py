"""`--attach` end to end with pytester: an experiment runs a fault against a stack found by its tags, and the
session builds nothing (moto plays the account inside the inner session)."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

ENVIRONMENT = """
kind: aws
name: moto-attach
account_id: "123456789012"
allowed_regions: [us-east-1]
target_tag: "gameday:target=true"
regions:
  us-east-1:
    vpc_cidr: 10.10.0.0/16
    availability_zones:
      us-east-1a: {subnet_cidr: 10.10.1.0/24}
      us-east-1b: {subnet_cidr: 10.10.2.0/24}
slos:
  checkout_p95_latency_ms: 300
stack:
  replica_region: null
"""

EXPERIMENT = """
import boto3
import pytest
from moto import mock_aws

from environments import loader
from faults.journal import Journal
from faults.network import IsolateAz
from stack import builder
from stack.local.controlplane.rds import fix_cross_region_replicas


def _counts(clients):
    ec2 = clients("ec2", "us-east-1")
    return (len(ec2.describe_vpcs()["Vpcs"]), len(ec2.describe_subnets()["Subnets"]),
            sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"]),
            len(clients("rds", "us-east-1").describe_db_instances()["DBInstances"]),
            len(clients("route53", "us-east-1").list_health_checks()["HealthChecks"]))


# Session-scoped and autouse, so moto is in place before the session's own fixtures (the stack) make a call.
@pytest.fixture(scope="session", autouse=True)
def world(tmp_path_factory):
    fix_cross_region_replicas()
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        clients = lambda service, region: session.client(service, region_name=region)
        built = builder.Builder(loader.load("ENV"), clients, builder.BuildOptions(
            wait_delay_s=0.01, checkout_package="gameday[local] @ https://example.com/g.whl")).build()
        # The team marks what a game day may break.
        clients("ec2", "us-east-1").create_tags(Resources=[s.subnet_id for s in built.subnets],
                                                Tags=[{"Key": "gameday:target", "Value": "true"}])
        yield clients, built, _counts(clients), tmp_path_factory.mktemp("journal")


def test_the_stack_is_the_one_found_by_its_tags(world, stack, gameday_settings):
    clients, built, before, _ = world
    assert gameday_settings.attach
    assert stack == built
    assert _counts(clients) == before  # attaching built nothing


def test_a_fault_runs_against_the_attached_stack(world, stack):
    clients, _, before, journal = world
    subnet = stack.subnet("us-east-1b")
    with IsolateAz(clients, Journal("moto", journal), region="us-east-1", availability_zone="us-east-1b",
                   subnet_id=subnet.subnet_id):
        acl = clients("ec2", "us-east-1").describe_network_acls(Filters=[
            {"Name": "association.subnet-id", "Values": [subnet.subnet_id]}])["NetworkAcls"][0]
        assert any(t["Key"] == "gameday:fault" for t in acl.get("Tags", []))
    assert _counts(clients) == before
"""


@pytest.fixture(autouse=True)
def credentials(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner session's clients take the default credential chain: moto's test keys, no profile files; and a
    proxy on a closed loopback port, so a call moto did not take fails here instead of leaving the machine."""
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                        "AWS_CONFIG_FILE": str(pytester.path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(pytester.path / "none")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_attach_runs_experiments_against_the_stack_found_by_its_tags(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    environment = pytester.path / "moto.yaml"
    environment.write_text(ENVIRONMENT)
    pytester.makepyfile(test_experiment=EXPERIMENT.replace('"ENV"', repr(str(environment))))
    result = pytester.runpytest("--env", str(environment), "--attach", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_attach_to_a_stack_that_is_not_there_names_what_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    environment = pytester.path / "moto.yaml"
    environment.write_text(ENVIRONMENT)
    pytester.makepyfile(test_experiment="""
import pytest
from moto import mock_aws


@pytest.fixture(scope="session", autouse=True)
def account():
    with mock_aws():
        yield


def test_needs_the_stack(account, stack):
    pass
""")
    result = pytester.runpytest("--env", str(environment), "--attach", "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*BuildError: attaching to the stack tagged gameday:stack=securecart in moto-attach: "
                                 "no hosted zone securecart.example. carries gameday:stack=securecart*"])
