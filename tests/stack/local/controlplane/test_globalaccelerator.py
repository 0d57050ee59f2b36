"""Global Accelerator's API on the control plane: the shapes boto3 reads, and AWS's refusals."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def ga(edge_client: Any) -> Any:
    return edge_client("globalaccelerator", "us-west-2")


def token() -> str:
    return uuid.uuid4().hex


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


@pytest.fixture
def listener(ga: Any) -> dict[str, Any]:
    accelerator = ga.create_accelerator(Name="shop", IdempotencyToken=token())["Accelerator"]
    found: dict[str, Any] = ga.create_listener(AcceleratorArn=accelerator["AcceleratorArn"], Protocol="TCP",
                                               PortRanges=[{"FromPort": 80, "ToPort": 81}],
                                               IdempotencyToken=token())["Listener"]
    found["AcceleratorArn"] = accelerator["AcceleratorArn"]
    return found


def test_an_accelerator_has_two_static_addresses_of_the_range_and_the_same_token_returns_it(ga: Any) -> None:
    same = token()
    first = ga.create_accelerator(Name="a", IdempotencyToken=same)["Accelerator"]
    again = ga.create_accelerator(Name="a", IdempotencyToken=same)["Accelerator"]
    other = ga.create_accelerator(Name="b", IdempotencyToken=token())["Accelerator"]
    addresses = first["IpSets"][0]["IpAddresses"]
    assert again["AcceleratorArn"] == first["AcceleratorArn"] and len(addresses) == 2
    assert all(a.startswith("127.240.") for a in addresses)
    assert not set(addresses) & set(other["IpSets"][0]["IpAddresses"])
    assert first["Status"] == "DEPLOYED" and first["DnsName"].endswith(".awsglobalaccelerator.com")
    listed = {a["AcceleratorArn"] for a in ga.list_accelerators()["Accelerators"]}
    assert {first["AcceleratorArn"], other["AcceleratorArn"]} <= listed


def test_the_api_lives_in_us_west_2(edge_client: Any) -> None:
    with pytest.raises(ClientError) as error:
        edge_client("globalaccelerator", "us-east-1").list_accelerators()
    assert code(error) == "InvalidArgumentException" and "us-west-2" in str(error.value)


def test_a_traffic_dial_over_100_is_refused(ga: Any, listener: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as error:
        ga.create_endpoint_group(ListenerArn=listener["ListenerArn"], EndpointGroupRegion="us-east-1",
                                 TrafficDialPercentage=101, IdempotencyToken=token())
    assert code(error) == "InvalidArgumentException" and "TrafficDialPercentage: 101" in str(error.value)
    group = ga.create_endpoint_group(ListenerArn=listener["ListenerArn"], EndpointGroupRegion="us-east-1",
                                     TrafficDialPercentage=40, IdempotencyToken=token())["EndpointGroup"]
    with pytest.raises(ClientError) as error:
        ga.update_endpoint_group(EndpointGroupArn=group["EndpointGroupArn"], TrafficDialPercentage=100.5)
    assert code(error) == "InvalidArgumentException"
    updated = ga.update_endpoint_group(EndpointGroupArn=group["EndpointGroupArn"], TrafficDialPercentage=0)
    assert updated["EndpointGroup"]["TrafficDialPercentage"] == 0
    assert group["HealthCheckPort"] == 80 and group["HealthCheckIntervalSeconds"] == 30 and group["ThresholdCount"] == 3


@pytest.mark.parametrize("settings", [{"HealthCheckIntervalSeconds": 20}, {"ThresholdCount": 11},
                                      {"HealthCheckPath": "health"}, {"EndpointGroupRegion": "eu-west-3"}])
def test_bad_health_check_settings_and_regions_are_refused(ga: Any, listener: dict[str, Any],
                                                           settings: dict[str, Any]) -> None:
    given = {"ListenerArn": listener["ListenerArn"], "EndpointGroupRegion": "us-west-2", "IdempotencyToken": token()}
    with pytest.raises(ClientError) as error:
        ga.create_endpoint_group(**{**given, **settings})
    assert code(error) == "InvalidArgumentException" and next(iter(settings)) in str(error.value)


def test_one_group_per_region_and_endpoints_must_exist(ga: Any, edge_client: Any, listener: dict[str, Any]) -> None:
    ec2 = edge_client("ec2", "us-west-2")
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    arn = listener["ListenerArn"]
    with pytest.raises(ClientError) as error:
        ga.create_endpoint_group(ListenerArn=arn, EndpointGroupRegion="us-west-2", IdempotencyToken=token(),
                                 EndpointConfigurations=[{"EndpointId": "i-0123456789abcdef0"}])
    assert code(error) == "InvalidArgumentException" and "i-0123456789abcdef0" in str(error.value)
    group = ga.create_endpoint_group(ListenerArn=arn, EndpointGroupRegion="us-west-2", IdempotencyToken=token(),
                                     EndpointConfigurations=[{"EndpointId": instance, "Weight": 7}])["EndpointGroup"]
    assert group["EndpointDescriptions"][0] == {"EndpointId": instance, "Weight": 7, "HealthState": "INITIAL",
                                                "ClientIPPreservationEnabled": True}
    with pytest.raises(ClientError) as error:
        ga.create_endpoint_group(ListenerArn=arn, EndpointGroupRegion="us-west-2", IdempotencyToken=token())
    assert code(error) == "EndpointGroupAlreadyExistsException"
    with pytest.raises(ClientError) as error:
        ga.update_endpoint_group(EndpointGroupArn=group["EndpointGroupArn"],
                                 EndpointConfigurations=[{"EndpointId": instance, "Weight": 256}])
    assert code(error) == "InvalidArgumentException" and "Weight: 256" in str(error.value)


def test_overlapping_listener_ports_are_refused(ga: Any, listener: dict[str, Any]) -> None:
    for ranges in ([{"FromPort": 81, "ToPort": 90}], [{"FromPort": 9, "ToPort": 8}]):
        with pytest.raises(ClientError) as error:
            ga.create_listener(AcceleratorArn=listener["AcceleratorArn"], Protocol="TCP", PortRanges=ranges,
                               IdempotencyToken=token())
        assert code(error) == "InvalidPortRangeException"


def test_deletion_follows_awss_order(ga: Any, listener: dict[str, Any]) -> None:
    accelerator, arn = listener["AcceleratorArn"], listener["ListenerArn"]
    group = ga.create_endpoint_group(ListenerArn=arn, EndpointGroupRegion="us-east-1",
                                     IdempotencyToken=token())["EndpointGroup"]["EndpointGroupArn"]
    for call, expected in ((lambda: ga.delete_accelerator(AcceleratorArn=accelerator), "AcceleratorNotDisabledException"),
                           (lambda: ga.delete_listener(ListenerArn=arn), "AssociatedEndpointGroupFoundException")):
        with pytest.raises(ClientError) as error:
            call()
        assert code(error) == expected
    ga.update_accelerator(AcceleratorArn=accelerator, Enabled=False)
    with pytest.raises(ClientError) as error:
        ga.delete_accelerator(AcceleratorArn=accelerator)
    assert code(error) == "AssociatedListenerFoundException"
    ga.delete_endpoint_group(EndpointGroupArn=group)
    ga.delete_listener(ListenerArn=arn)
    ga.delete_accelerator(AcceleratorArn=accelerator)
    with pytest.raises(ClientError) as error:
        ga.describe_accelerator(AcceleratorArn=accelerator)
    assert code(error) == "AcceleratorNotFoundException"


def test_the_reference_accelerator_is_built_once_restored_by_a_rebuild_and_removed_by_its_run(
        ga: Any, edge_client: Any) -> None:
    from stack import accelerator
    from stack.handles import InstanceHandle

    made = {region: edge_client("ec2", region).run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)
            ["Instances"][0]["InstanceId"] for region in ("us-east-1", "us-west-2")}
    instances = [InstanceHandle(i, r, f"{r}a", "", "", "", 8080) for r, i in made.items()]
    stack_name, run = f"shop-{token()[:8]}", "20261203T000000Z-abcdef"
    tags = [{"Key": "gameday:stack", "Value": stack_name}, {"Key": "gameday:run", "Value": run}]

    def clients(service: str, region: str) -> Any:
        return edge_client(service, region)

    first = accelerator.ensure(clients, stack_name, 8080, 10, 3, instances, tags)
    groups = accelerator.endpoint_groups(clients, first["accelerator_listener_arn"])
    assert sorted(groups) == ["us-east-1", "us-west-2"]
    assert groups["us-east-1"]["EndpointDescriptions"][0]["EndpointId"] == made["us-east-1"]
    assert (groups["us-east-1"]["HealthCheckPath"], groups["us-east-1"]["HealthCheckIntervalSeconds"]) == ("/health", 10)
    ga.update_endpoint_group(EndpointGroupArn=groups["us-east-1"]["EndpointGroupArn"], TrafficDialPercentage=0)
    again = accelerator.ensure(clients, stack_name, 8080, 10, 3, instances, tags)
    assert again == first == accelerator.existing(clients, stack_name, 8080)
    assert accelerator.endpoint_groups(clients, first["accelerator_listener_arn"])["us-east-1"]["TrafficDialPercentage"] == 100
    assert accelerator.find(clients, stack_name, "20261203T000000Z-other0") == []
    assert accelerator.find(clients, stack_name, run) == [first["accelerator_arn"]]
    assert len(accelerator.remove(clients, [first["accelerator_arn"]])) == 1
    assert accelerator.find(clients, stack_name, run) == [] and accelerator.existing(clients, stack_name, 8080) == {}


def test_endpoints_are_added_and_removed_one_by_one_and_overrides_name_a_listener_port(
        ga: Any, edge_client: Any, listener: dict[str, Any]) -> None:
    ec2 = edge_client("ec2", "us-east-1")
    first, second = (ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
                     for _ in range(2))
    with pytest.raises(ClientError) as error:
        ga.create_endpoint_group(ListenerArn=listener["ListenerArn"], EndpointGroupRegion="us-east-1",
                                 IdempotencyToken=token(), PortOverrides=[{"ListenerPort": 443, "EndpointPort": 8443}])
    assert code(error) == "InvalidArgumentException" and "ListenerPort: 443" in str(error.value)
    arn = ga.create_endpoint_group(ListenerArn=listener["ListenerArn"], EndpointGroupRegion="us-east-1",
                                   IdempotencyToken=token(), EndpointConfigurations=[{"EndpointId": first}],
                                   PortOverrides=[{"ListenerPort": 81, "EndpointPort": 8081}])["EndpointGroup"]["EndpointGroupArn"]
    added = ga.add_endpoints(EndpointGroupArn=arn, EndpointConfigurations=[{"EndpointId": second, "Weight": 5}])
    assert [(e["EndpointId"], e["Weight"]) for e in added["EndpointDescriptions"]] == [(second, 5)]
    ga.remove_endpoints(EndpointGroupArn=arn, EndpointIdentifiers=[{"EndpointId": first}])
    left = ga.describe_endpoint_group(EndpointGroupArn=arn)["EndpointGroup"]["EndpointDescriptions"]
    assert [e["EndpointId"] for e in left] == [second]
    with pytest.raises(ClientError) as error:
        ga.remove_endpoints(EndpointGroupArn=arn, EndpointIdentifiers=[{"EndpointId": first}])
    assert code(error) == "InvalidArgumentException" and first in str(error.value)
