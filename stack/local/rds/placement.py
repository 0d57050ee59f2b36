"""Where a DB instance's nodes live: an AZ of its DB subnet group and a free address in that AZ's subnet.

Addresses come from the subnet's /24 in 127.0.0.0/8, from host 10 up (AWS reserves the first four
of every subnet; the rest below 10 is left to other parts' fixed addresses), skipping any address
EC2 already handed out, and are reserved in EC2's subnet so it never hands them out later. Subnet
groups and EC2's subnets are read through the control plane's ``RdsStore`` (stack.local.services).
"""
from __future__ import annotations

import ipaddress
import threading
from typing import Any

from environments.model import LocalEnvironment
from stack.local.awserror import AwsError
from stack.local.rds.wiring import Placement
from stack.local.services import RdsStore

FIRST_HOST = 10


class AddressBook:
    def __init__(self, environment: LocalEnvironment, store: RdsStore) -> None:
        self.environment = environment
        self.store = store
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def place(self, region: str, subnet_group: Any, az: Any, count: int, port: int) -> list[Placement]:
        """``count`` placements in distinct AZs (``az`` first when given), each with a free address.

        Raises AwsError as RDS does for an AZ outside the group or a group covering too few AZs.
        """
        subnets = self._subnets(region, subnet_group)
        zones = sorted(subnets)
        if az:
            if az not in subnets:
                raise AwsError("InvalidParameterCombination",
                               f"Availability Zone {az!r} is not covered by the DB subnet group; covered: {', '.join(zones)}")
            zones.remove(az)
            zones.insert(0, az)
        if len(zones) < count:
            raise AwsError("DBSubnetGroupDoesNotCoverEnoughAZs",
                           f"DB Subnet Group doesn't meet Availability Zone (AZ) coverage requirement. Current AZ coverage: "
                           f"{', '.join(zones)}. Add subnets to cover at least {count} AZs.")
        with self._lock:
            return [Placement(region, zone, self._allocate(region, subnets[zone]), port) for zone in zones[:count]]

    def release(self, placement: Placement) -> None:
        with self._lock:
            self._taken.discard(placement.address)
        self.store.release_address(placement.region, placement.address)

    def _subnets(self, region: str, subnet_group: Any) -> dict[str, str]:
        """AZ -> subnet CIDR: the DB subnet group's subnets, or the environment's AZ subnets."""
        if subnet_group:
            return self.store.subnet_group_zones(region, str(subnet_group))
        zones = self.environment.regions.get(region)
        if zones is None:
            raise AwsError("InvalidParameterValue", f"Region {region} is not in the local environment; "
                                                    f"known: {', '.join(self.environment.regions)}")
        return {az: zone.subnet_cidr for az, zone in zones.availability_zones.items()}

    def _allocate(self, region: str, cidr: str) -> str:
        network = ipaddress.IPv4Network(cidr)
        # No EC2 subnet for the CIDR (the environment's defaults): nothing else to avoid.
        in_ec2 = self.store.taken_addresses(region, cidr)
        taken = set(self._taken) | (in_ec2 or set())
        for index, host in enumerate(network.hosts(), start=1):
            address = str(host)
            if index < FIRST_HOST or address in taken:
                continue
            self._taken.add(address)
            if in_ec2 is not None:
                self.store.reserve_address(region, cidr, address)
            return address
        raise AwsError("InsufficientDBInstanceCapacity", f"No free address left in subnet {cidr} for a DB instance")
