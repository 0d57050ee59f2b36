"""The zones the DNS server answers for: hosted zones read from the control plane, plus service-owned names.

AWS services publish some names without a hosted zone the user can see: an RDS endpoint such as
``orders.abc123.us-east-1.rds.amazonaws.com``. Those are kept here as one synthetic zone per service
domain (``us-east-1.rds.amazonaws.com.``), served locally only. Readers take ``catalog.zones``, an
immutable ``ZoneSet`` swapped in whole on every change, so a query never sees half an update.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable, Iterable, Mapping

import dns.name

from stack.local.route53.errors import RecordError
from stack.local.route53.records import RecordSet, parse_name
from stack.local.route53.zone import NameKey, Zone, ZoneSet, name_key

SERVICE_ZONE_ID = "service-owned"
# Route 53's own SOA shape; the serial never matters to a client here.
_SERVICE_SOA = "ns-local.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
_SERVICE_NS = "ns-local.awsdns-00.com."


def service_zone_apex(fqdn: dns.name.Name) -> dns.name.Name:
    """The synthetic zone a service-owned name lives in.

    ``<...>.<region>.<service>.amazonaws.com.`` lives in ``<region>.<service>.amazonaws.com.``, as
    AWS's own zones are cut; any other name lives in its parent domain.
    """
    labels = [label.lower() for label in fqdn.labels]
    if len(labels) > 5 and labels[-3:-1] == [b"amazonaws", b"com"]:
        return dns.name.Name(fqdn.labels[-5:])
    return fqdn.parent()


class ZoneCatalog:
    """Holds the served zones and swaps in a new ``ZoneSet`` on every change (thread-safe)."""

    def __init__(self, on_swap: Callable[[ZoneSet], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._hosted: tuple[Zone, ...] = ()
        self._service: dict[NameKey, dict[tuple[NameKey, int], tuple[RecordSet, ...]]] = {}
        self._service_apex: dict[NameKey, dns.name.Name] = {}
        self._on_swap = on_swap
        self.zones = ZoneSet()
        self.version = 0  # bumped on every swap (answer caches key on it)

    def replace_hosted(self, zones: Iterable[Zone]) -> None:
        with self._lock:
            self._hosted = tuple(zones)
            self._swap()

    @property
    def hosted(self) -> tuple[Zone, ...]:
        return self._hosted

    def set_service_record(self, fqdn: str, rtype: str, values: list[str], ttl_s: int) -> None:
        """Serve ``fqdn`` ``rtype`` with ``values``, replacing any earlier values of that type.

        Raises RecordError naming the name and the bad value.
        """
        if ttl_s < 0:
            raise RecordError(f"service record {fqdn} {rtype}: TTL {ttl_s} s is not allowed; use 0 or more")
        record = RecordSet.from_api({"Name": fqdn, "Type": rtype, "TTL": ttl_s,
                                     "ResourceRecords": [{"Value": v} for v in values]})
        self._set(record.name, int(record.rtype), (record,))

    def set_routed_record(self, fqdn: str, rtype: str, by_network: Mapping[str, list[str]], default: list[str],
                          ttl_s: int) -> None:
        """Serve ``fqdn`` ``rtype`` with the values of the client's network (its name, as NetworkMap places
        the ECS subnet or the resolver), ``default`` for any other client. Raises RecordError."""
        if ttl_s < 0:
            raise RecordError(f"service record {fqdn} {rtype}: TTL {ttl_s} s is not allowed; use 0 or more")
        groups: dict[tuple[str, ...], set[str]] = {tuple(default): {"*"}}
        for network, values in by_network.items():
            groups.setdefault(tuple(values), set()).add(network)
        records = tuple(
            dataclasses.replace(RecordSet.from_api({"Name": fqdn, "Type": rtype, "TTL": ttl_s, "SetIdentifier": f"networks-{i}",
                                                    "ResourceRecords": [{"Value": v} for v in values]}),
                                client_networks=frozenset(networks))
            for i, (values, networks) in enumerate(groups.items()))
        self._set(records[0].name, int(records[0].rtype), records)

    def _set(self, name: dns.name.Name, rtype: int, records: tuple[RecordSet, ...]) -> None:
        apex = service_zone_apex(name)
        with self._lock:
            self._service_apex[name_key(apex)] = apex
            self._service.setdefault(name_key(apex), {})[(name_key(name), rtype)] = records
            self._swap()

    def remove_service_record(self, fqdn: str) -> None:
        """Stop serving every type of ``fqdn``; a name that is not served is ignored."""
        name = parse_name(fqdn)
        apex_key = name_key(service_zone_apex(name))
        with self._lock:
            records = self._service.get(apex_key, {})
            for key in [k for k in records if k[0] == name_key(name)]:
                del records[key]
            if not records:
                self._service.pop(apex_key, None)
                self._service_apex.pop(apex_key, None)
            self._swap()

    def _swap(self) -> None:
        zones = {}
        for apex_key, records in self._service.items():
            apex = self._service_apex[apex_key]
            zones[apex_key] = Zone.build(apex, SERVICE_ZONE_ID, [*_service_apex_records(apex),
                                                                 *(r for group in records.values() for r in group)])
        for zone in self._hosted:  # a hosted zone of the same name wins over a synthetic one
            zones[zone.key] = zone
        self.zones = ZoneSet(zones)
        self.version += 1
        if self._on_swap is not None:
            self._on_swap(self.zones)


def _service_apex_records(apex: dns.name.Name) -> list[RecordSet]:
    text = apex.to_text()
    return [
        RecordSet.from_api({"Name": text, "Type": "SOA", "TTL": 900, "ResourceRecords": [{"Value": _SERVICE_SOA}]}),
        RecordSet.from_api({"Name": text, "Type": "NS", "TTL": 172800, "ResourceRecords": [{"Value": _SERVICE_NS}]}),
    ]

