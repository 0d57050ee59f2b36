"""SecureCart's product catalog: a DynamoDB global table (version 2019.11.21) with a replica in every Region.

The builder makes it the way AWS documents: ``CreateTable`` in the home Region (on-demand, streams with
new and old images), the products put while it is a Regional table, then one ``UpdateTable`` with
``ReplicaUpdates`` per other Region, each waited for until ``DescribeTable`` shows every replica ACTIVE
(one replica change at a time: while a replica is CREATING the table is UPDATING and refuses another, and
AWS recommends separate requests; a new replica copies the items the table already holds). A second
build finds the table and its replicas and changes nothing: the prices experiments changed stay.

An item: ``sku`` (the key), ``name``, ``currency``, ``price_cents``, ``stock``, ``version`` (incremented by
every write through checkout's admin endpoint), and who wrote it last: ``updated_region``,
``updated_at``, ``write_id``. The admin endpoint needs a bearer token, kept in Secrets Manager in the
home Region as ``{"token": ...}``; the catalog experiments read it there, as an operator would.

This module imports no AWS SDK: checkout imports ``SEED`` from it.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

TABLE = "catalog"
KEY = "sku"
SEED_WRITE_ID = "seed"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int
    currency: str = "USD"


SEED: tuple[Product, ...] = (
    Product("SC-TEE-001", "SecureCart T-shirt", 1999, 500),
    Product("SC-MUG-002", "Incident-free mug", 1299, 300),
    Product("SC-HOOD-003", "Chaos hoodie", 4999, 120),
    Product("SC-STCK-004", "Runbook sticker pack", 499, 10_000),
    Product("SC-BOOK-005", "Game day handbook", 2999, 200),
)


class CatalogError(Exception):
    """The catalog table did not reach the state the build needs (names the table, Region and status)."""


def admin_secret_id(stack_name: str) -> str:
    return f"{stack_name}/catalog/admin"


def seed_item(product: Product, region: str) -> dict[str, Any]:
    """A product as a DynamoDB item (attribute-value JSON), version 1, written by the seed."""
    return {"sku": {"S": product.sku}, "name": {"S": product.name}, "currency": {"S": product.currency},
            "price_cents": {"N": str(product.price_cents)}, "stock": {"N": str(product.stock)},
            "version": {"N": "1"}, "updated_region": {"S": region}, "updated_at": {"S": "seed"},
            "write_id": {"S": SEED_WRITE_ID}}


@dataclass(frozen=True)
class CatalogSpec:
    home_region: str  # where CreateTable runs: the orders database's Region
    regions: tuple[str, ...]  # every Region of the environment, the home Region included
    stack_name: str
    table: str = TABLE


class Catalog:
    """Create, find or remove the catalog table with boto3 DynamoDB clients (one per Region, thread-safe).

    ``clients(region)`` returns the DynamoDB client of a Region; ``secrets_client`` is Secrets Manager in
    the home Region. ``delay_s`` and ``timeout_s`` bound each wait (wall seconds)."""

    def __init__(self, spec: CatalogSpec, clients: Callable[[str], Any], secrets_client: Any, delay_s: float,
                 timeout_s: float, tags: list[dict[str, str]]) -> None:
        self.spec, self.clients, self.secrets = spec, clients, secrets_client
        self.delay_s, self.timeout_s, self.tags = delay_s, timeout_s, tags

    # -- the table and its replicas --------------------------------------------------------------------

    def ensure(self) -> tuple[str, ...]:
        """Make whatever is missing; returns the Regions whose replicas are ACTIVE. Raises CatalogError,
        or the ClientError of the call AWS refused."""
        spec = self.spec
        home = self.clients(spec.home_region)
        described = self._describe(spec.home_region)
        if described is None:
            home.create_table(
                TableName=spec.table, KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, Tags=self.tags)
            self._wait(lambda: self._status(self._describe(spec.home_region)) == "ACTIVE", "the table ACTIVE")
            # Put while Regional: every replica added next starts with these items.
            for product in SEED:
                home.put_item(TableName=spec.table, Item=seed_item(product, spec.home_region),
                              ConditionExpression="attribute_not_exists(sku)")
        for region in spec.regions:
            if region == spec.home_region or region in self.replicas():
                continue
            self._wait(self._settled, "the table ACTIVE before the next replica change")
            home.update_table(TableName=spec.table, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        # Every Region listed, not only the ones shown: an endpoint that ignores ReplicaUpdates never gets there.
        self._wait(lambda: set(spec.regions) <= set(self.replicas()) and self._settled(),
                   f"replicas ACTIVE in {', '.join(spec.regions)}")
        self._tag_replicas()
        return tuple(sorted(self.replicas()))

    def _tag_replicas(self) -> None:
        """The stack's tags on every replica: a new replica starts untagged, and the fault guard only changes
        tables that carry the stack tag."""
        wanted = {t["Key"]: t["Value"] for t in self.tags}
        for region in self.replicas():
            client = self.clients(region)
            arn = client.describe_table(TableName=self.spec.table)["Table"]["TableArn"]
            have = {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
            missing = [{"Key": k, "Value": v} for k, v in wanted.items() if have.get(k) != v]
            if missing:
                client.tag_resource(ResourceArn=arn, Tags=missing)

    def remove(self) -> list[str]:
        """Delete every replica (one ReplicaUpdates change at a time), then the table and the admin secret."""
        spec, done = self.spec, self.remove_table()
        try:
            self.secrets.describe_secret(SecretId=admin_secret_id(spec.stack_name))
        except Exception as error:  # noqa: BLE001 - absent already is the goal; anything else is named
            if _code(error) != "ResourceNotFoundException":
                raise
            return done
        self.secrets.delete_secret(SecretId=admin_secret_id(spec.stack_name), ForceDeleteWithoutRecovery=True)
        return done + [f"deleted secret {admin_secret_id(spec.stack_name)}"]

    def remove_table(self) -> list[str]:
        """Delete every replica but the home Region's, one ReplicaUpdates change at a time, then the table."""
        spec, done = self.spec, []
        if self._describe(spec.home_region) is not None:
            for region in sorted(set(self.replicas()) - {spec.home_region}):
                self._wait(self._settled, "the table ACTIVE before the next replica change")
                self.clients(spec.home_region).update_table(TableName=spec.table,
                                                             ReplicaUpdates=[{"Delete": {"RegionName": region}}])
                done.append(f"deleted the {spec.table} replica in {region}")
            self._wait(lambda: set(self.replicas()) <= {spec.home_region} and self._settled(),
                       "the replicas deleted")
            self.clients(spec.home_region).delete_table(TableName=spec.table)
            done.append(f"deleted table {spec.table} in {spec.home_region}")
        return done

    def replicas(self) -> dict[str, str]:
        """Region -> ReplicaStatus as DescribeTable in the home Region shows them (the home Region included)."""
        described = self._describe(self.spec.home_region) or {}
        found = {r["RegionName"]: r.get("ReplicaStatus", "") for r in described.get("Replicas") or ()}
        if described and self.spec.home_region not in found:
            found[self.spec.home_region] = str(described.get("TableStatus", ""))
        return found

    def _settled(self) -> bool:
        described = self._describe(self.spec.home_region)
        return (self._status(described) == "ACTIVE"
                and all(status == "ACTIVE" for status in self.replicas().values()))

    def _describe(self, region: str) -> dict[str, Any] | None:
        try:
            table: dict[str, Any] = self.clients(region).describe_table(TableName=self.spec.table)["Table"]
            return table
        except Exception as error:  # noqa: BLE001 - only "not found" is an answer; the rest propagates
            if _code(error) == "ResourceNotFoundException":
                return None
            raise

    @staticmethod
    def _status(described: dict[str, Any] | None) -> str:
        return "" if described is None else str(described.get("TableStatus", ""))

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not condition():
            if time.monotonic() >= deadline:
                raise CatalogError(f"table {self.spec.table} in {self.spec.home_region}: waited {self.timeout_s:.0f} s "
                                   f"for {what}; replicas: {self.replicas()}")
            time.sleep(self.delay_s)

    # -- the admin endpoint's token ---------------------------------------------------------------------

    def admin_secret(self) -> str:
        """The secret holding checkout's admin token, created with a new token when missing; returns its id."""
        secret_id = admin_secret_id(self.spec.stack_name)
        try:
            self.secrets.describe_secret(SecretId=secret_id)
        except Exception as error:  # noqa: BLE001 - only "not found" means create
            if _code(error) != "ResourceNotFoundException":
                raise
            self.secrets.create_secret(Name=secret_id, Tags=self.tags,
                                       SecretString=json.dumps({"token": secrets.token_urlsafe(24)}))
        return secret_id


def admin_token(secrets_client: Any, stack_name: str) -> str:
    """The admin endpoint's bearer token, read from Secrets Manager."""
    value = secrets_client.get_secret_value(SecretId=admin_secret_id(stack_name))["SecretString"]
    return str(json.loads(value)["token"])


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
