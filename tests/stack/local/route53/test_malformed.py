"""The responder against malformed and hostile messages (tests/stack/local/route53/malformed.py).

What must hold for every message, over UDP and TCP: nothing raises and nothing is logged as an
error; a message with a whole header that is not a response gets a reply with its ID and QR set
(FORMERR, NOTIMP, REFUSED or an answer); a response (QR set) or a message shorter than a header
gets none, so the server cannot be used to reflect; a UDP reply fits the size the client allowed.
The soak benchmark (benchmarks/bench_dns_soak.py) sends 100,000 of these through real sockets.
"""
from __future__ import annotations

import logging
import random
from typing import Iterator

import pytest

from .malformed import GENERATORS, malformed, valid_query
from .served import Served, running
from .test_tcp_limits import RECORDS

CASES = 3000


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with running(RECORDS) as s:
        yield s


@pytest.mark.parametrize("seed", [1, 2])
def test_malformed_messages_get_a_reply_or_nothing_and_never_an_error(served: Served, seed: int,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(seed)
    seen = set()
    with caplog.at_level(logging.WARNING):
        for _ in range(CASES):
            kind, wire = malformed(rng)
            seen.add(kind)
            for udp in (True, False):
                reply = served.responder.handle(wire, "127.0.0.9", udp)
                expected = len(wire) >= 12 and not wire[2] & 0x80
                if not expected:
                    assert reply is None, f"{kind}: answered a response or a short message: {wire[:40].hex()}"
                    continue
                assert reply is not None, f"{kind}: no reply to {wire[:40].hex()}"
                assert reply[:2] == wire[:2] and reply[2] & 0x80, f"{kind}: reply without the ID or QR"
                assert not udp or len(reply) <= 4096, f"{kind}: a UDP reply of {len(reply)} bytes"
    assert seen == set(GENERATORS)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_valid_queries_between_malformed_ones_are_answered(served: Served) -> None:
    rng = random.Random(3)
    for _ in range(200):
        served.responder.handle(malformed(rng)[1], "127.0.0.9", True)
        wire = valid_query(rng)
        reply = served.responder.handle(wire, "127.0.0.9", True)
        assert reply is not None and reply[:2] == wire[:2] and reply[3] & 0x0F in (0, 3, 5)  # NOERROR/NXDOMAIN/REFUSED
