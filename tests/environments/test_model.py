"""The environment model: the shipped files load, and every bad input is named precisely."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from environments import loader
from environments.model import AwsEnvironment, LocalEnvironment
from base.errors import EnvironmentFileError
from base.timescale import TimeScale

LOCAL = yaml.safe_load((loader.DIRECTORY / "local.yaml").read_text())


def test_local_is_the_securecart_reference() -> None:
    env = loader.load("local")
    assert isinstance(env, LocalEnvironment)
    assert list(env.regions) == ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"]
    assert all(len(r.availability_zones) == 2 for r in env.regions.values())
    assert set(env.vantage_points) == {"virginia", "oregon", "frankfurt", "singapore"}
    assert env.time_scale == 0.1
    assert env.timescale == TimeScale(0.1)
    assert env.rtt_ms("eu-central-1", "us-east-1") == env.rtt_ms("us-east-1", "eu-central-1") == 89
    assert env.dr_regions == ["ap-southeast-1"]


def test_aws_example_is_a_valid_template() -> None:
    env = loader.load("aws-example")
    assert isinstance(env, AwsEnvironment)
    assert env.time_scale == 1.0
    assert env.timescale is TimeScale.REAL
    assert env.stop_conditions[0].alarm_name


def test_a_path_loads_too(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(LOCAL))
    assert loader.load(str(path)).name == "local"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(EnvironmentFileError, match=r"no environments/prod.yaml; known: aws-example, local"):
        loader.load("prod")


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split("/")
    for key in keys[:-1]:
        data = data[key]
    if value is DELETE:
        del data[keys[-1]]
    else:
        data[keys[-1]] = value


DELETE = object()

# (what is wrong, path to change, new value, the field path and words the message must contain)
BAD_INPUTS = [
    ("unknown top-level key", "colour", "blue", ["colour", "unknown key"]),
    ("unknown nested key", "regions/us-east-1/subnets", [], ["regions.us-east-1.subnets", "unknown key"]),
    # docs/real-aws.md and docs/fis.md: only an aws environment chooses its injector.
    ("injector in a local environment", "injector", "fis", ["injector", "unknown key"]),
    ("wrong type", "time_scale", "fast", ["time_scale", "'fast'"]),
    ("time_scale out of range", "time_scale", 0, ["time_scale", "0", "0 < time_scale <= 1"]),
    ("time_scale above 1", "time_scale", 1.5, ["time_scale", "1.5", "0 < time_scale <= 1"]),
    ("unknown Region", "regions/us-east-9",
     {"vpc_cidr": "127.30.0.0/16", "availability_zones": {"us-east-9a": {"subnet_cidr": "127.30.1.0/24"}}},
     ["regions", "unknown AWS Region 'us-east-9'"]),
    ("bad CIDR", "regions/us-east-1/availability_zones/us-east-1a/subnet_cidr", "127.16.1.0/33",
     ["regions.us-east-1.availability_zones.us-east-1a.subnet_cidr", "127.16.1.0/33", "not an IPv4 CIDR"]),
    ("non-loopback address", "vantage_points/frankfurt/subnet", "10.0.3.0/24",
     ["vantage_points.frankfurt.subnet", "10.0.3.0/24", "127.0.0.0/8"]),
    ("negative SLO", "slos/scenarios/multi_az_failover/rto_s", -5,
     ["slos.scenarios.multi_az_failover.rto_s", "-5", "greater than or equal to 0"]),
    ("zero latency SLO", "slos/checkout_p95_latency_ms", 0, ["slos.checkout_p95_latency_ms", "greater than 0"]),
    ("bad continent", "vantage_points/oregon/continent", "XX", ["vantage_points.oregon.continent", "'XX'", "AF, AN, AS"]),
    ("bad country", "vantage_points/oregon/country", "USA", ["vantage_points.oregon.country", "'USA'", "alpha-2"]),
    ("AZ outside its Region", "regions/us-west-2/availability_zones/us-east-1c", {"subnet_cidr": "127.17.3.0/24"},
     ["regions", "'us-east-1c' is not in us-west-2"]),
    ("subnet outside its VPC", "regions/us-east-1/availability_zones/us-east-1b/subnet_cidr", "127.17.9.0/24",
     ["127.17.9.0/24", "not inside the VPC 127.16.0.0/16"]),
    ("VPC prefix AWS does not allow", "regions/us-west-2/vpc_cidr", "127.16.0.0/12", ["regions.us-west-2.vpc_cidr", "/12", "/16 to /28"]),
    ("vantage subnet inside a VPC", "vantage_points/frankfurt/subnet", "127.16.5.0/24",
     ["vantage_points.frankfurt.subnet", "127.16.5.0/24", "overlaps regions.us-east-1.vpc_cidr"]),
    ("missing required field", "slos", DELETE, ["slos", "required but missing"]),
    ("bad account id", "account_id", "1234", ["account_id", "'1234'"]),
    ("health check interval AWS does not allow", "stack/health_check_interval_s", 20,
     ["stack.health_check_interval_s", "20", "10 or 30"]),
    ("negative RTT", "region_rtt_ms/us-east-1/us-west-2", -1, ["region_rtt_ms.us-east-1.us-west-2", "-1", ">= 0"]),
    # NaN compares false with everything, so it passed every ">= 0"; infinity passed them too.
    ("NaN RTT", "vantage_points/virginia/rtt_ms/us-east-1", float("nan"),
     ["vantage_points.virginia.rtt_ms.us-east-1", "nan is not allowed", "finite number"]),
    ("infinite RTT", "region_rtt_ms/us-east-1/us-west-2", float("inf"), ["region_rtt_ms.us-east-1.us-west-2", "inf", "finite"]),
    ("infinite edge RTT", "edge_locations/FRA/rtt_ms/us-east-1", float("inf"), ["edge_locations.FRA.rtt_ms.us-east-1", "finite"]),
    ("NaN bot RTT", "bots/botnet/rtt_ms/us-east-1", float("nan"), ["bots.botnet.rtt_ms.us-east-1", "finite"]),
    ("infinite site RTT", "sites/warehouse/rtt_ms/us-west-2", float("inf"), ["sites.warehouse.rtt_ms.us-west-2", "finite"]),
    ("NaN time_scale", "time_scale", float("nan"), ["time_scale", "nan", "finite"]),
    ("infinite RTO", "slos/scenarios/az_outage/rto_s", float("inf"), ["slos.scenarios.az_outage.rto_s", "inf", "finite"]),
    ("NaN DynamoDB timing", "dynamodb/ttl_sweep_s", float("nan"), ["dynamodb.ttl_sweep_s", "nan", "finite"]),
    ("infinite site action", "site_actions/store-nyc-uplink-down/duration_s", float("inf"),
     ["site_actions.store-nyc-uplink-down.duration_s", "finite"]),
    ("Region pair without an RTT", "region_rtt_ms/us-west-2/ap-southeast-1", DELETE,
     ["region_rtt_ms has no RTT between ap-southeast-1 and us-west-2", "either order"]),  # safe_dump sorts the Regions
    ("Region pair given twice, differently", "region_rtt_ms/us-west-2/us-east-1", 80,
     ["region_rtt_ms.us-east-1.us-west-2 is 78 ms but region_rtt_ms.us-west-2.us-east-1 is 80 ms"]),
    ("RTT within one Region", "region_rtt_ms/us-east-1/us-east-1", 5, ["region_rtt_ms.us-east-1.us-east-1", "is 0"]),
    ("vantage point without an RTT to a Region", "vantage_points/singapore/rtt_ms/us-west-2", DELETE,
     ["vantage_points.singapore.rtt_ms has no RTT to us-west-2"]),
    ("bot without an RTT to a Region", "bots/botnet/rtt_ms/eu-central-1", DELETE, ["bots.botnet.rtt_ms has no RTT to eu-central-1"]),
    ("vantage RTT to a Region not in the environment", "vantage_points/oregon/rtt_ms/eu-west-1", 140,
     ["vantage_points.oregon.rtt_ms", "'eu-west-1'", "not in regions"]),
    ("unknown kind", "kind", "azure", ["kind", "'azure'", "'local', 'aws'"]),
    ("missing kind", "kind", DELETE, ["kind: required but missing; allowed: 'local', 'aws'"]),
    ("empty kind", "kind", None, ["kind: None is not allowed; allowed: 'local', 'aws'"]),
    ("too few checker Regions", "health_checker_regions", ["us-east-1", "us-west-2"], ["health_checker_regions", "at least 3"]),
    ("database Region not in the environment", "stack/database_region", "eu-west-1",
     ["stack.database_region", "'eu-west-1'", "not one of this environment's regions"]),
    ("negative replication delay", "dynamodb/replication_processing_s", -1,
     ["dynamodb.replication_processing_s", "-1", "greater than or equal to 0"]),
    ("unknown DynamoDB setting", "dynamodb/replication_s", 1, ["dynamodb.replication_s"]),
    # The rds: section was checked only when the RDS part started (an unknown key, naming no file), or never.
    ("misspelt RDS timing", "rds/failover_shutdwn_s", [10, 20], ["rds.failover_shutdwn_s", "unknown key"]),
    ("RDS interval given as a range", "rds/metric_interval_s", [1, 2], ["rds.metric_interval_s", "[1, 2]", "valid number"]),
    ("negative RDS interval", "rds/health_check_interval_s", -5, ["rds.health_check_interval_s", "-5", "greater than 0"]),
    ("RDS phase given as a number", "rds/failover_dns_s", 5, ["rds.failover_dns_s", "5", "valid list"]),
    ("RDS phase with min above max", "rds/failover_promote_s", [60, 30],
     ["rds.failover_promote_s", "[60, 30]", "give [min_s, max_s] with 0 <= min_s <= max_s"]),
    ("RDS phase of three numbers", "rds/reboot_s", [1, 2, 3], ["rds.reboot_s", "[1, 2, 3]", "[min_s, max_s]"]),
    ("NaN RDS phase", "rds/reboot_s", [1, float("nan")], ["rds.reboot_s.1", "nan", "finite"]),
    ("edge location inside a vantage subnet", "edge_locations/FRA/address", "127.200.3.9",
     ["edge_locations.FRA.address", "'127.200.3.9'", "inside vantage_points.frankfurt.subnet"]),
    ("two edge locations on one address", "edge_locations/FRA/address", "127.230.0.1",
     ["edge_locations.IAD.address", "'127.230.0.1'", "is also edge_locations.FRA.address"]),  # safe_dump sorts keys
    ("edge location without an RTT to a Region", "edge_locations/SIN/rtt_ms/us-west-2", DELETE,
     ["edge_locations.SIN.rtt_ms", "no RTT to us-west-2"]),
    ("edge location code", "edge_locations/fra1", {"address": "127.230.0.9", "rtt_ms": {}},
     ["edge_locations.fra1: 'fra1'", "three capital letters"]),
    ("edge location address", "edge_locations/IAD/address", "127.230.0", ["edge_locations.IAD.address", "not an IPv4 address"]),
    ("accelerator range over a vantage subnet", "accelerator_cidr", "127.200.0.0/14",
     ["accelerator_cidr", "127.200.0.0/14", "overlaps vantage_points.virginia.subnet"]),
    ("accelerator range off loopback", "accelerator_cidr", "10.240.0.0/16", ["accelerator_cidr", "10.240.0.0/16", "127.0.0.0/8"]),
    ("accelerator range not a CIDR", "accelerator_cidr", "127.240.0.0/33", ["accelerator_cidr", "127.240.0.0/33", "not an IPv4 CIDR"]),
    ("bot subnet overlapping a vantage point", "bots/botnet/subnet", "127.200.3.0/25",
     ["bots.botnet.subnet", "127.200.3.0/25", "overlaps vantage_points.frankfurt.subnet"]),
    ("bot RTT to a Region not in the environment", "bots/botnet/rtt_ms/eu-west-1", 30,
     ["bots.botnet.rtt_ms", "'eu-west-1'", "not in regions"]),
]


@pytest.mark.parametrize("what,path,value,expected", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_named(tmp_path: Path, what: str, path: str, value: Any, expected: list[str]) -> None:
    data = copy.deepcopy(LOCAL)
    _set(data, path, value)
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(file))
    message = str(raised.value)
    assert message.startswith(str(file)), message
    for fragment in expected:
        assert fragment in message, f"{what}: {fragment!r} not in {message!r}"
    assert "Traceback" not in message and "pydantic" not in message.lower()


def test_not_yaml(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("kind: local\n  bad: [")
    with pytest.raises(EnvironmentFileError, match="not valid YAML"):
        loader.load(str(file))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = copy.deepcopy(LOCAL)
    data["colour"] = "blue"
    data["time_scale"] = "fast"
    file = tmp_path / "two.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(file))
    assert len(str(raised.value).splitlines()) == 2


def test_a_cross_check_reports_every_problem_not_only_the_first(tmp_path: Path) -> None:
    data = copy.deepcopy(LOCAL)
    data["stack"]["database_region"] = "eu-west-3"
    data["stack"]["replica_region"] = "sa-east-1"
    first, second = list(data["vantage_points"])[:2]
    data["vantage_points"][first]["subnet"] = "10.0.0.0/24"
    data["vantage_points"][second]["subnet"] = "10.0.1.0/24"
    data["health_checker_regions"] = ["eu-north-1", "me-south-1", "us-east-1"]
    file = tmp_path / "many.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(file))
    lines = str(raised.value).splitlines()
    # Field checks (both checker Regions) come from one validator; the cross-checks run once fields are valid.
    assert sum("is not a Route 53 health-checker Region" in line for line in lines) == 2, lines
    assert all(line.startswith(str(file)) for line in lines)
    del data["health_checker_regions"]  # back to the default
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(file))
    lines = str(raised.value).splitlines()
    assert any("stack.database_region 'eu-west-3'" in line for line in lines), lines
    assert any("stack.replica_region 'sa-east-1'" in line for line in lines), lines
    assert sum("is outside 127.0.0.0/8" in line for line in lines) == 2, lines
    assert all(line.startswith(f"{file}: ") for line in lines)


def test_catalog_slos_are_checked_with_the_field_and_value() -> None:
    from pydantic import ValidationError

    from environments.model import SLOs

    assert SLOs(checkout_p95_latency_ms=1, catalog_staleness_s=120, catalog_convergence_s=30).catalog_convergence_s == 30
    with pytest.raises(ValidationError, match="catalog_staleness_s"):
        SLOs(checkout_p95_latency_ms=1, catalog_staleness_s=0)
    with pytest.raises(ValidationError, match="slos.catalog_convergence_s 60 is longer than slos.catalog_staleness_s 30"):
        SLOs(checkout_p95_latency_ms=1, catalog_staleness_s=30, catalog_convergence_s=60)
