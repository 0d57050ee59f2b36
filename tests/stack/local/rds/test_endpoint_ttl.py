"""The RDS endpoint's TTL is AWS's 5 s scaled once: RDS hands Route 53 AWS seconds, the DNS server scales.

Until this was fixed the RDS part scaled the TTL and Route 53 scaled it again: at time_scale 0.5 the
endpoint was served with a TTL of 2 s instead of 3 s. The answer is read over the wire from the DNS server.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import pytest

from stack.local.controlplane.rdsstore import MotoRdsStore
from stack.local.part import PartContext
from stack.local.rds.part import RdsPart
from stack.local.services import RdsStore, ServiceRecords, Services

from ..route53.stack import moto_server, running

ENDPOINT = "orders.c9akciq32.us-east-1.rds.amazonaws.com"


@pytest.fixture(scope="module")
def moto() -> Iterator[int]:
    with moto_server() as port:
        yield port


@pytest.mark.parametrize(("time_scale", "served_ttl"), [(0.5, 3), (0.3, 2)])  # ceil(5 x scale)
def test_the_endpoint_ttl_served_is_aws_5_s_scaled_once(tmp_path: Path, moto: int, time_scale: float,
                                                        served_ttl: int) -> None:
    with running(tmp_path / "route53", moto, time_scale=time_scale) as route53:
        services = Services()
        services.provide(ServiceRecords, route53.part, by="part route53")
        services.provide(RdsStore, MotoRdsStore(), by="the control plane")
        context = PartContext(route53.instance, route53.environment, tmp_path / "rds",
                              logging.getLogger("test-rds-endpoint-ttl"), services, part="rds")
        rds = RdsPart(via_fabric=False)
        rds.start(context)
        try:
            rds.wiring.point(ENDPOINT, "127.16.1.20")  # what creation and every failover do
            host, port = route53.part.dns_address
            reply = dns.query.udp(dns.message.make_query(ENDPOINT, "A"), host, port=port, timeout=2)
            answer = reply.find_rrset(reply.answer, dns.name.from_text(ENDPOINT), dns.rdataclass.IN, dns.rdatatype.A)
            assert [rd.to_text() for rd in answer] == ["127.16.1.20"]
            assert answer.ttl == served_ttl
        finally:
            rds.stop()
