"""SecureCart's product catalog as checkout reads and writes it.

With a catalog table configured (``--catalog-table``), the DynamoDB global table is the source of truth:
every read goes to the replica in checkout's own Region (a strongly consistent read there, so what a user
sees lags another Region's writes by replication only), and the admin endpoint's writes go to the same
replica, unconditionally, incrementing ``version`` (stack.catalog describes the item). Without a table,
checkout serves the seed catalog (stack.catalog.SEED), read-only: tests and stacks built without one.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from stack.catalog import SEED, SEED_WRITE_ID
from stack.local.ec2.checkout.awsjson import AwsCallError, AwsUnreachable, JsonApi

SKU = re.compile(r"[A-Za-z0-9._-]{1,64}")
WRITE_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
MAX_VALUE = 10**9
DYNAMODB_TARGET = "DynamoDB_20120810"


class CatalogUnavailable(Exception):
    """The catalog replica could not be read or written (names the table, Region and AWS's error)."""


class CatalogReadOnly(Exception):
    """There is no catalog table to write to."""


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int
    currency: str
    version: int
    updated_region: str
    updated_at: str
    write_id: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Product":
        def text(name: str, default: str = "") -> str:
            return str(item.get(name, {}).get("S", default))

        def number(name: str) -> int:
            return int(item.get(name, {}).get("N", "0"))

        return cls(text("sku"), text("name"), number("price_cents"), number("stock"), text("currency", "USD"),
                   number("version"), text("updated_region"), text("updated_at"), text("write_id"))


@dataclass(frozen=True)
class Change:
    """What the admin endpoint writes: a new price and/or stock, named by ``write_id``."""

    price_cents: int | None
    stock: int | None
    write_id: str


class Catalog(Protocol):
    source: str  # what the report and /health show: "seed" or "dynamodb:<table>@<region>"

    def get(self, sku: str, timeout_s: float) -> Product | None: ...

    def all(self, timeout_s: float) -> list[Product]: ...

    def update(self, sku: str, change: Change, timeout_s: float) -> Product: ...


class SeedCatalog:
    source = "seed"

    def __init__(self, region: str) -> None:
        self._by_sku = {p.sku: Product(p.sku, p.name, p.price_cents, p.stock, p.currency, 1, region, "seed",
                                       SEED_WRITE_ID) for p in SEED}

    def get(self, sku: str, timeout_s: float) -> Product | None:
        return self._by_sku.get(sku)

    def all(self, timeout_s: float) -> list[Product]:
        return list(self._by_sku.values())

    def update(self, sku: str, change: Change, timeout_s: float) -> Product:
        raise CatalogReadOnly("this instance has no catalog table (UserData catalog_table): the seed catalog is read-only")


class TableCatalog:
    """The catalog table's replica in ``region``, through DynamoDB's JSON API."""

    def __init__(self, api: JsonApi, table: str) -> None:
        self.api, self.table, self.region = api, table, api.region
        self.source = f"dynamodb:{table}@{api.region}"

    def _call(self, operation: str, params: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        try:
            return self.api.call(operation, {"TableName": self.table, **params}, max(0.05, deadline - time.monotonic()))
        except (AwsCallError, AwsUnreachable) as error:
            raise CatalogUnavailable(f"catalog table {self.table} in {self.region}: {operation}: {error}") from error

    def get(self, sku: str, timeout_s: float) -> Product | None:
        item = self._call("GetItem", {"Key": {"sku": {"S": sku}}, "ConsistentRead": True}, timeout_s).get("Item")
        return Product.from_item(item) if item else None

    def all(self, timeout_s: float) -> list[Product]:
        products: list[Product] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._call("Scan", {"ConsistentRead": True, **({"ExclusiveStartKey": start} if start else {})},
                              timeout_s)
            products += [Product.from_item(item) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return sorted(products, key=lambda p: p.sku)

    def update(self, sku: str, change: Change, timeout_s: float) -> Product:
        """Unconditional: the last writer wins, in this Region and then, by replication, everywhere."""
        sets = ["version = if_not_exists(version, :zero) + :one", "updated_region = :region",
                "updated_at = :at", "write_id = :write_id"]
        values: dict[str, Any] = {":zero": {"N": "0"}, ":one": {"N": "1"}, ":region": {"S": self.region},
                                  ":at": {"S": dt.datetime.now(dt.timezone.utc).isoformat()},
                                  ":write_id": {"S": change.write_id}}
        if change.price_cents is not None:
            sets.append("price_cents = :price")
            values[":price"] = {"N": str(change.price_cents)}
        if change.stock is not None:
            sets.append("stock = :stock")
            values[":stock"] = {"N": str(change.stock)}
        answer = self._call("UpdateItem", {"Key": {"sku": {"S": sku}}, "UpdateExpression": "SET " + ", ".join(sets),
                                           "ExpressionAttributeValues": values, "ReturnValues": "ALL_NEW"}, timeout_s)
        return Product.from_item(answer.get("Attributes", {}))
