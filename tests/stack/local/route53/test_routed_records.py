"""Service-owned names answered per client network (service ClientRoutedRecords: a distribution's nearest edge)."""
from __future__ import annotations

import random

import dns.name
import dns.rdatatype
import pytest

from stack.local.route53.catalog import ZoneCatalog
from stack.local.route53.errors import RecordError
from stack.local.route53.routing import resolve

from .zones import FRANKFURT, OREGON, PARIS, SINGAPORE, VIRGINIA

NAME = "d111111abcdef8.cloudfront.net."
EDGES = {"virginia": ["127.230.0.1"], "oregon": ["127.230.0.2"], "frankfurt": ["127.230.0.3"], "singapore": ["127.230.0.4"],
         "us-east-1": ["127.230.0.1"]}


def _answer(catalog: ZoneCatalog, network: object) -> tuple[list[str], bool, int]:
    found = resolve(catalog.zones, dns.name.from_text(NAME), dns.rdatatype.A, lambda _: True, network,  # type: ignore[arg-type]
                    random.Random(1))
    rrset = found.answer[0]
    return [rd.to_text() for rd in rrset.rdatas], found.client_dependent, rrset.ttl_s


def test_each_client_network_gets_its_own_values_and_anyone_else_the_default() -> None:
    catalog = ZoneCatalog()
    catalog.set_routed_record(NAME, "A", EDGES, ["127.230.0.1"], 60)
    for network, expected in ((FRANKFURT, "127.230.0.3"), (SINGAPORE, "127.230.0.4"), (OREGON, "127.230.0.2"),
                              (VIRGINIA, "127.230.0.1"), (PARIS, "127.230.0.1"), (None, "127.230.0.1")):
        values, client_dependent, ttl = _answer(catalog, network)
        assert values == [expected] and client_dependent and ttl == 60, network
    catalog.remove_service_record(NAME)
    assert catalog.zones.find(tuple(label.lower() for label in dns.name.from_text(NAME).labels)) is None


def test_a_negative_ttl_is_refused_with_the_name() -> None:
    with pytest.raises(RecordError, match="d111111abcdef8.cloudfront.net. A: TTL -1 s is not allowed"):
        ZoneCatalog().set_routed_record(NAME, "A", EDGES, ["127.230.0.1"], -1)
