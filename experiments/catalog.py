"""What the catalog experiments share: price changes through checkout's admin endpoint, and their figures.

An operator changes a price the way SecureCart's staff would: PUT /admin/products/{sku} on checkout in
one Region (the Region's own DNS name, ``<region>.checkout.<zone>``, asked from the vantage point nearest
to it), with the admin token read from Secrets Manager. The write is acknowledged when checkout answers
200 with the item as the Region's replica now holds it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from base import clock
from experiments.scenario import ProbeOrigin, Scenario
from probes import catalog as catalog_probe
from probes.slo import Measured
from stack import catalog as catalog_
from stack.handles import CatalogHandle


@dataclass(frozen=True)
class Write:
    """One acknowledged (or refused) price change."""

    region: str
    write_id: str
    price_cents: int
    status: int
    acked_at: clock.Instant  # when checkout's answer arrived
    version: int | None  # the version the Region's replica gave it
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200


def catalog_of(scenario: Scenario) -> CatalogHandle:
    found = scenario.stack.catalog
    assert found is not None, "the reference stack has no catalog table: build it with the catalog (stack.catalog)"
    return found


class Admin:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        handle = catalog_of(scenario)
        secret = scenario.clients("secretsmanager", handle.home_region).get_secret_value(SecretId=handle.admin_secret_id)
        self._token = str(json.loads(secret["SecretString"])["token"])

    def nearest(self, region: str) -> ProbeOrigin:
        points = self.scenario.environment.vantage_points
        name = min(points, key=lambda n: points[n].rtt_ms.get(region, float("inf")))
        return self.scenario.vantage(name)

    def change(self, region: str, sku: str, price_cents: int, write_id: str) -> Write:
        scenario = self.scenario
        client = scenario.client(self.nearest(region), scenario.stack.names.regional(region))
        _, response = client.request("PUT", f"/admin/products/{sku}", json={"price_cents": price_cents,
                                                                            "write_id": write_id},
                                     headers={"Authorization": f"Bearer {self._token}"})
        acked = clock.now()
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        write = Write(region, write_id, price_cents, response.status_code, acked,
                      body.get("version") if isinstance(body.get("version"), int) else None, body)
        scenario.timeline.record("state", f"price of {sku} changed in {region}" if write.ok else
                                 f"price change of {sku} in {region} refused ({response.status_code})",
                                 region=region, write_id=write_id, price_cents=price_cents, status=write.status,
                                 version=write.version, served_by=response.headers.get("X-Region", ""))
        return write

    def read(self, region: str, sku: str) -> catalog_probe.Seen:
        """The product as checkout in ``region`` serves it (its Region's DNS name)."""
        scenario = self.scenario
        return catalog_probe.read(scenario.client(self.nearest(region), scenario.stack.names.regional(region)), sku)


def current_price(scenario: Scenario, source: str) -> catalog_probe.Seen | None:
    """What ``source`` (a vantage point) was last shown, from the catalog probe's samples."""
    answered = [s for s in scenario.samples("catalog") if s.source == source and s.ok and s.value is not None]
    return answered[-1].value if answered else None


def every_vantage_reads(scenario: Scenario, sources: list[str]) -> bool:
    return all(current_price(scenario, source) is not None for source in sources)


def staleness_figure(entry: catalog_probe.Staleness, region: str, slo_s: float | None, kind: str,
                     interval_aws_s: float) -> Measured:
    detail = (f"{entry.stale_samples} samples still showed the old price; resolution {interval_aws_s:.0f} s "
              "(one sample interval)")
    return Measured("catalog_staleness_s", f"staleness seen from {entry.source} ({region})", kind, entry.wall_s,
                    entry.aws_s, slo_s, detail)


def seed_price(sku: str) -> int:
    return next(p.price_cents for p in catalog_.SEED if p.sku == sku)
