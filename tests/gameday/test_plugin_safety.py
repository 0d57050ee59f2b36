"""The plugin's guard wiring, end to end with pytester: a session aimed at another account, `--dry-run`,
and a stop condition that aborts the run (moto plays the account inside the inner session)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ENVIRONMENT = """
kind: aws
name: moto-{account}
account_id: "{account}"
allowed_regions: [us-east-1]
target_tag: "gameday:target=true"
stop_conditions: {stop_conditions}
regions:
  us-east-1:
    vpc_cidr: 10.10.0.0/16
    availability_zones:
      us-east-1a: {{subnet_cidr: 10.10.1.0/24}}
slos:
  checkout_p95_latency_ms: 300
stack:
  replica_region: null
"""

EXPERIMENT = """
import boto3
import pytest
from moto import mock_aws

from faults.network import IsolateAz
from faults.journal import Journal


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        clients = lambda service, region: session.client(service, region_name=region)
        ec2 = clients("ec2", "us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.10.1.0/24", AvailabilityZone="us-east-1a", TagSpecifications=[
            {"ResourceType": "subnet", "Tags": [{"Key": "gameday:target", "Value": "true"}]}])["Subnet"]["SubnetId"]
        cloudwatch = clients("cloudwatch", "us-east-1")
        cloudwatch.put_metric_alarm(AlarmName="checkout-5xx", MetricName="5XX", Namespace="SecureCart", Statistic="Sum",
                                    Period=60, EvaluationPeriods=1, Threshold=10, ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName="checkout-5xx", StateValue="{alarm_state}", StateReason="5XX above 10")
        yield clients, subnet, tmp_path_factory.mktemp("journal")


def test_isolate_az(world):
    clients, subnet, journal = world
    # No guard passed: the one the plugin installed for the session applies.
    with IsolateAz(clients, Journal("moto", journal), region="us-east-1", availability_zone="us-east-1a", subnet_id=subnet):
        pass


def test_nothing_was_left_changed(world):
    clients, _, _ = world
    acls = clients("ec2", "us-east-1").describe_network_acls()["NetworkAcls"]
    assert not [a for a in acls if any(t["Key"] == "gameday:fault" for t in a.get("Tags", []))]
"""


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    return pytester


def _environment(tester: pytest.Pytester, account: str = "123456789012", stop_conditions: str = "[]") -> Path:
    path = tester.path / "moto.yaml"
    path.write_text(ENVIRONMENT.format(account=account, stop_conditions=stop_conditions))
    return path


def _experiment(tester: pytest.Pytester, alarm_state: str = "OK") -> None:
    tester.makepyfile(test_experiment=EXPERIMENT.replace("{alarm_state}", alarm_state))


def test_dry_run_prints_the_plan_and_changes_nothing(tester: pytest.Pytester) -> None:
    environment = _environment(tester)
    _experiment(tester)
    result = tester.runpytest("--env", str(environment), "--dry-run", "-rs", "-p", "no:randomly")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*gameday dry run: the plan (no mutating call was made)*",
        "run *: 1 fault(s) planned",
        "1. network.isolate_az  injector=api  (test_experiment.py::test_isolate_az)",
        "    arn:aws:ec2:us-east-1:123456789012:subnet/subnet-*",
        "  calls:",
        "    ec2.CreateNetworkAcl [[]us-east-1] {*",
        "  rollback:",
        "    ec2.ReplaceNetworkAclAssociation [[]us-east-1] {*",
        "    ec2.DeleteNetworkAcl [[]us-east-1] {\"NetworkAclId\": \"<CreateNetworkAcl.NetworkAcl.NetworkAclId>\"}",
        "SKIPPED [[]1] test_experiment.py:*: dry run: network.isolate_az planned on arn:aws:ec2:us-east-1:123456789012:"
        "subnet/subnet-*; nothing was changed",
    ])


def test_dry_run_from_the_environment_variable(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = _environment(tester)
    _experiment(tester)
    monkeypatch.setenv("GAMEDAY_DRY_RUN", "true")
    tester.runpytest("--env", str(environment)).assert_outcomes(passed=1, skipped=1)


def test_a_session_aimed_at_another_account_changes_nothing(tester: pytest.Pytester) -> None:
    environment = _environment(tester, account="111122223333")
    _experiment(tester)
    result = tester.runpytest("--env", str(environment))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AccountNotAllowed: network.isolate_az: the credentials are for account 123456789012 "
                                 "(arn:aws:sts::123456789012:user/moto), but environment moto-111122223333 allows only "
                                 "account 111122223333; nothing was changed"])


def test_an_alarm_aborts_the_run(tester: pytest.Pytester) -> None:
    environment = _environment(tester, stop_conditions="[{alarm_name: checkout-5xx, region: us-east-1}]")
    _experiment(tester, alarm_state="ALARM")
    result = tester.runpytest("--env", str(environment))
    result.assert_outcomes(failed=1)  # the session stops: the second test never runs
    result.stdout.fnmatch_lines(["*Aborted: run aborted: stop-condition alarm checkout-5xx (us-east-1) is in ALARM: "
                                 "5XX above 10; network.isolate_az was not injected",
                                 "*Interrupted: gameday: run aborted: *"])


def test_dry_run_plans_reach_the_terminal_from_xdist_workers(tester: pytest.Pytester) -> None:
    environment = _environment(tester)
    _experiment(tester)
    result = tester.runpytest_subprocess("--env", str(environment), "--dry-run", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*gameday dry run: the plan (no mutating call was made)*",
                                 "run *: 1 fault(s) planned",
                                 "1. network.isolate_az  injector=api  (test_experiment.py::test_isolate_az)"])
