"""SecureCart's product catalog: small and static (DynamoDB serves the real one later)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    currency: str = "USD"

    def as_json(self) -> dict[str, object]:
        return asdict(self)


PRODUCTS: tuple[Product, ...] = (
    Product("SC-TEE-001", "SecureCart T-shirt", 1999),
    Product("SC-MUG-002", "Incident-free mug", 1299),
    Product("SC-HOOD-003", "Chaos hoodie", 4999),
    Product("SC-STCK-004", "Runbook sticker pack", 499),
    Product("SC-BOOK-005", "Game day handbook", 2999),
)

BY_SKU: dict[str, Product] = {p.sku: p for p in PRODUCTS}
