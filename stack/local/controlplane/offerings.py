"""moto's EC2 instance-type offerings, read for a Region when something first asks about that Region.

moto reads its offering tables for every location type and every Region when ``moto.ec2`` is imported:
about 45 MiB of decoded JSON that a stack keeps for as long as it runs, although it only ever asks
about its own few Regions (RunInstances checks the instance type against its Region's offerings;
DescribeInstanceTypeOfferings and DescribeSpotPriceHistory list them). ``on_demand()`` swaps each
location type's table for a mapping that reads a Region's file the first time it is asked for and
keeps it, so every answer is the one moto's tables give, and the rest is given back.
"""
from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Mapping


class RegionOfferings(Mapping[str, list[dict[str, Any]]]):
    """One location type's offerings by Region, each Region's file read on first use."""

    def __init__(self, location_type: str, files: Mapping[str, str]) -> None:
        self.location_type = location_type
        self._files = dict(files)  # Region -> the resource path moto reads it from
        self._read: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, region: str) -> list[dict[str, Any]]:
        found = self._read.get(region)
        if found is not None:
            return found
        if region not in self._files:
            raise KeyError(region)
        with self._lock:  # request threads may ask for the same Region at once: read it once
            if region not in self._read:
                from moto.utilities.utils import load_resource

                offerings: list[dict[str, Any]] = load_resource(self._files[region])
                for offering in offerings:  # what moto's import adds to each, which its filters read
                    offering["LocationType"] = self.location_type
                self._read[region] = offerings
            return self._read[region]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


@cache
def on_demand() -> None:
    """Replace moto's eagerly read offering tables with per-Region ones (once per process)."""
    from moto.ec2.models import instance_types

    root = Path(instance_types.__file__).resolve().parent.parent / "resources" / "instance_type_offerings"
    tables = instance_types.INSTANCE_TYPE_OFFERINGS
    for location_type in list(tables):
        files = {path.name.split(".")[0]: f"ec2/resources/instance_type_offerings/{location_type}/{path.name}"
                 for path in sorted((root / location_type).iterdir())}
        if set(files) != set(tables[location_type]):
            continue  # not one file per Region (another moto): keep moto's table; tests/ catch the upgrade
        # The same dict object: moto's modules imported it by name, so they see the replacement.
        tables[location_type] = RegionOfferings(location_type, files)
