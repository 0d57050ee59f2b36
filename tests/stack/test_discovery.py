"""Attach mode: the stack found by its tags is the stack the builder returned; a missing part is named with its tag."""
from __future__ import annotations

from typing import Any

import pytest

from environments import loader
from stack import builder, discovery
from stack.handles import ReferenceStack


@pytest.fixture
def built(client: Any) -> ReferenceStack:
    return builder.Builder(loader.load("local"), client, builder.BuildOptions(wait_delay_s=0.01, catalog=False)).build()


def _calls(client: Any) -> tuple[Any, list[str]]:
    """A client factory recording every operation, to show discovery only reads."""
    made: list[str] = []

    def recorded(service: str, region: str) -> Any:
        made_client = client(service, region)
        made_client.meta.events.register("before-call", lambda model, **_: made.append(model.name))
        return made_client

    return recorded, made


def test_discovery_of_a_complete_stack_returns_the_builders_handles(built: ReferenceStack, client: Any) -> None:
    recorded, calls = _calls(client)
    found = discovery.discover(loader.load("local"), recorded)
    assert found == built
    assert calls and all(c.startswith(("Describe", "List", "Get")) for c in calls), sorted(set(calls))


def test_a_stack_missing_parts_is_one_error_naming_each_and_its_tag(built: ReferenceStack, client: Any) -> None:
    ec2 = client("ec2", "eu-central-1")
    ec2.terminate_instances(InstanceIds=[i.instance_id for i in built.instances_in("eu-central-1")])
    route53 = client("route53", "us-east-1")
    lonely = built.instances_in("us-east-1")[0]
    route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=lonely.health_check_id,
                                     RemoveTagKeys=["gameday:stack"])
    replica_arn = client("rds", "ap-southeast-1").describe_db_instances(
        DBInstanceIdentifier="orders-replica")["DBInstances"][0]["DBInstanceArn"]
    client("rds", "ap-southeast-1").remove_tags_from_resource(ResourceName=replica_arn, TagKeys=["gameday:stack"])
    with pytest.raises(builder.BuildError) as raised:
        discovery.discover(loader.load("local"), client)
    message = str(raised.value)
    assert message.startswith("attaching to the stack tagged gameday:stack=securecart in local: ")
    assert "no instance in eu-central-1 carries gameday:stack=securecart and gameday:role=checkout" in message
    assert f"instance {lonely.instance_id} (us-east-1, {lonely.private_ip}) has no health check on its address " \
           "carrying gameday:stack=securecart" in message
    assert "no read replica in ap-southeast-1 carries gameday:stack=securecart" in message
    assert "hosted zone" not in message and "writer" not in message  # what is there is not reported


def test_a_missing_zone_and_a_tag_override_are_named(built: ReferenceStack, client: Any) -> None:
    tags = discovery.TagContract.for_environment(loader.load("local"), {"GAMEDAY_DISCOVERY_TAG": "team:app=shop"})
    with pytest.raises(builder.BuildError, match=r"no hosted zone securecart\.example\. carries team:app=shop "
                                                 r"\(found untagged: "):
        discovery.Discovery(loader.load("local"), client, tags).discover()


def test_a_malformed_tag_override_is_refused() -> None:
    with pytest.raises(builder.BuildError, match="GAMEDAY_CHECKOUT_TAG: 'checkout' is not allowed; give the tag as "
                                                 "key=value"):
        discovery.TagContract.for_environment(loader.load("local"), {"GAMEDAY_CHECKOUT_TAG": "checkout"})
