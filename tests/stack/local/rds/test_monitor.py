"""RDS's monitor deciding that a primary's AZ is cut off, with the network's answers scripted.

The end-to-end case (a real NACL cut, a real failover) is in test_isolation.py. Here the order of the probes
matters, so each answer is given in turn: what the monitor asks, and when, decides whether it fails over.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from stack.local.rds import wiring
from stack.local.rds.monitor import Monitor
from stack.local.rds.timing import RdsTiming


class ScriptedWiring:
    """Answers each member's probes from its own list, in order; records the order they were asked in."""

    def __init__(self, **answers: list[bool]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def probe(self, member: Any, timeout_s: float) -> bool:
        self.asked.append(member.name)
        return self.answers[member.name].pop(0)


def _member(name: str) -> Any:
    return SimpleNamespace(name=name, node=SimpleNamespace(is_running=lambda: True))


def _database() -> Any:
    """What Monitor.check reads of a synchronous Multi-AZ Database whose nodes are both running."""
    return SimpleNamespace(identifier="orders", region="us-east-1", status="available", stopping=threading.Event(),
                           lock=threading.Lock(), primary=_member("primary"), standby=_member("standby"),
                           standby_needs_rebuild=False, next_deep_check_at=0.0, synchronous=True,
                           unreachable_probes=0, standby_streaming=lambda: True)


def _checks(network: ScriptedWiring, times: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run Monitor.check ``times`` times, each as a due deep check; returns the reasons it recovered for."""
    monitor = Monitor(lambda: [], lambda *a, **k: None, RdsTiming(), network, lambda *a: None,  # type: ignore[arg-type]
                      threading.RLock(), logging.getLogger("test.rds.monitor"))
    recovered: list[str] = []
    monkeypatch.setattr(monitor, "recover", lambda database, why: recovered.append(why))
    database = _database()
    for _ in range(times):
        database.next_deep_check_at = time.monotonic()
        monitor.check(database)
    return recovered


def test_a_primary_cut_off_while_its_standby_answers_fails_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two misses in a row, the standby asked (and answering) just before the second: as many probes of the
    primary as before the standby was asked first, so detection takes no longer."""
    network = ScriptedWiring(primary=[False, False], standby=[True])
    assert _checks(network, 2, monkeypatch) == ["is unreachable on its address"]
    assert network.asked == ["primary", "standby", "primary"]


def test_both_azs_cut_do_not_fail_over(monkeypatch: pytest.MonkeyPatch) -> None:
    network = ScriptedWiring(primary=[False, False], standby=[False, False])
    assert _checks(network, 4, monkeypatch) == []
    assert network.asked == ["primary", "standby", "primary", "standby"]


def test_misses_are_not_carried_past_a_failover_or_a_silent_standby(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each failover takes two fresh misses in a row: the count is spent by a failover, and a standby that
    does not answer starts it afresh (the count once carried over, so one miss could fail over)."""
    network = ScriptedWiring(primary=[False] * 6, standby=[True, True, False])
    assert _checks(network, 7, monkeypatch) == ["is unreachable on its address"] * 2
    assert network.asked == ["primary", "standby", "primary",  # a failover
                             "primary", "standby", "primary",  # the next one takes two misses again
                             "primary", "standby",  # a silent standby: counting starts afresh
                             "primary"]


def test_a_region_cut_lifted_during_the_primarys_probe_does_not_fail_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Region's isolation rolled back: the standby's subnet answers again a moment before the primary's.

    The standby is asked first, so the primary is asked after the cut is lifted, and answers. When the
    primary was asked first, its probe that began before the rollback timed out and the standby's that
    followed answered: that passed for the primary's AZ alone cut off (a spurious failover after the Region
    evacuation experiment)."""
    network = ScriptedWiring(primary=[False, False, True], standby=[False, True])
    assert _checks(network, 4, monkeypatch) == []
    assert network.asked == ["primary", "standby", "primary", "standby", "primary"]


@pytest.fixture
def postgres_like() -> Iterator[tuple[str, int]]:
    """A listener that answers PostgreSQL's SSLRequest with 'N', as any server does before authentication."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(8)
                connection.sendall(b"N")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[:2]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _counting_connects(monkeypatch: pytest.MonkeyPatch, dropped: int) -> list[float]:
    """socket.create_connection as the probe sees it, its first ``dropped`` attempts timing out like a cut's."""
    real = socket.create_connection
    attempts: list[float] = []

    def create_connection(address: Any, timeout: float, **kwargs: Any) -> socket.socket:
        attempts.append(timeout)
        if len(attempts) <= dropped:
            raise TimeoutError("timed out")
        return real(address, timeout=timeout, **kwargs)

    monkeypatch.setattr(wiring.socket, "create_connection", create_connection)
    return attempts


def test_a_probe_answered_once_the_cut_is_lifted_mid_probe(monkeypatch: pytest.MonkeyPatch,
                                                           postgres_like: tuple[str, int]) -> None:
    attempts = _counting_connects(monkeypatch, dropped=3)
    assert wiring.answers(*postgres_like, timeout_s=5.0)
    assert len(attempts) == 4 and max(attempts) <= wiring.CONNECT_ATTEMPT_S


def test_a_probe_of_a_cut_address_misses_at_its_deadline(monkeypatch: pytest.MonkeyPatch,
                                                          postgres_like: tuple[str, int]) -> None:
    attempts = _counting_connects(monkeypatch, dropped=10**6)
    assert not wiring.answers(*postgres_like, timeout_s=0.3)
    assert attempts and all(a <= wiring.CONNECT_ATTEMPT_S for a in attempts)


def test_a_refused_probe_misses_without_trying_again(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = closed.getsockname()[:2]
    attempts = _counting_connects(monkeypatch, dropped=0)
    assert not wiring.answers(*address, timeout_s=5.0)
    assert len(attempts) == 1
