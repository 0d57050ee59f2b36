"""The catalog global table as the builder makes it: replicas ACTIVE everywhere, seeded, tagged, idempotent."""
from __future__ import annotations

from typing import Any

import pytest

from stack import catalog
from tests.stack.catalog_plane import clients, endpoint_url  # noqa: F401 - fixtures

REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1")
TAGS = [{"Key": "gameday:stack", "Value": "catalog-test"}]


def table(clients: Any, name: str) -> catalog.Catalog:  # noqa: F811 - the fixture, passed in
    spec = catalog.CatalogSpec("us-east-1", REGIONS, "catalog-test", table=name)
    return catalog.Catalog(spec, lambda region: clients("dynamodb", region), clients("secretsmanager", "us-east-1"),
                           delay_s=0.01, timeout_s=10, tags=TAGS)


def test_replicas_active_in_every_region_with_the_seed(clients: Any) -> None:  # noqa: F811
    made = table(clients, "catalog-a")
    assert made.ensure() == tuple(sorted(REGIONS))
    for region in REGIONS:
        ddb = clients("dynamodb", region)
        described = ddb.describe_table(TableName="catalog-a")["Table"]
        assert {r["RegionName"]: r["ReplicaStatus"] for r in described["Replicas"]} == {r: "ACTIVE" for r in REGIONS}
        item = ddb.get_item(TableName="catalog-a", Key={"sku": {"S": "SC-TEE-001"}}, ConsistentRead=True)["Item"]
        assert item["price_cents"] == {"N": "1999"} and item["version"] == {"N": "1"}
        assert len(ddb.scan(TableName="catalog-a")["Items"]) == len(catalog.SEED)
        tags = ddb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
        assert {"Key": "gameday:stack", "Value": "catalog-test"} in tags


def test_a_second_build_keeps_changed_prices(clients: Any) -> None:  # noqa: F811
    made = table(clients, "catalog-b")
    made.ensure()
    home = clients("dynamodb", "us-east-1")
    home.update_item(TableName="catalog-b", Key={"sku": {"S": "SC-MUG-002"}}, UpdateExpression="SET price_cents = :p",
                     ExpressionAttributeValues={":p": {"N": "1"}})
    assert made.ensure() == tuple(sorted(REGIONS))
    item = home.get_item(TableName="catalog-b", Key={"sku": {"S": "SC-MUG-002"}}, ConsistentRead=True)["Item"]
    assert item["price_cents"] == {"N": "1"}


def test_admin_secret_and_remove(clients: Any) -> None:  # noqa: F811
    made = table(clients, "catalog-c")
    made.ensure()
    made.admin_secret()
    assert len(catalog.admin_token(clients("secretsmanager", "us-east-1"), "catalog-test")) >= 16
    done = made.remove()
    assert any("deleted table catalog-c in us-east-1" in line for line in done)
    for region in REGIONS:
        assert "catalog-c" not in clients("dynamodb", region).list_tables()["TableNames"]
    assert made.remove() == []  # removing again finds nothing


def test_a_wait_that_never_ends_names_the_table_and_replicas(clients: Any) -> None:  # noqa: F811
    made = table(clients, "catalog-d")
    made.timeout_s = 0.05
    with pytest.raises(catalog.CatalogError, match="catalog-d in us-east-1: waited"):
        made._wait(lambda: False, "never")
