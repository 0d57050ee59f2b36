"""Toxics: Toxiproxy-style effects on every link of one node (an instance's private address).

They back FIS's SSM documents, which on AWS run tc/iptables on the instance itself, so each acts
where the instance's own network stack would:

- ``latency`` (AWSFIS-Run-Network-Latency, tc netem delay on the instance's interface): every chunk
  the node *sends* waits ``delay_ms`` more (its requests as a client, its answers as a server), so a
  round trip through the node takes the delay once more;
- ``loss`` (AWSFIS-Run-Network-Packet-Loss, netem loss): the fabric proxies TCP streams, where a lost
  segment shows as its retransmission: each chunk the node sends is, with probability
  ``loss_percent``, held back by TCP's minimum retransmission timeout (200 ms on Linux), and what
  follows it waits behind it (the stream keeps its order);
- ``blackhole`` (AWSFIS-Run-Network-Blackhole-Port, iptables DROP): connections to ``port`` on the
  node (``ingress``) or from the node to ``port`` elsewhere (``egress``) stall like a cut network:
  the SYN is never delivered, bytes are held, nothing is reset.

Removing a toxic forwards whatever it held, never drops it (as Toxiproxy does).
"""
from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any, Mapping

from stack.local.fabric.errors import FabricCommandError

KINDS = ("latency", "loss", "blackhole")
RETRANSMIT_S = 0.2  # Linux's TCP_RTO_MIN: the least a lost segment costs


@dataclass(frozen=True)
class Toxic:
    address: ipaddress.IPv4Address
    kind: str
    delay_s: float = 0.0
    loss: float = 0.0  # 0..1
    port: int = 0
    direction: str = "ingress"  # a blackhole's: ingress (to the node's port) or egress (from the node to the port)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Toxic":
        try:
            address = ipaddress.IPv4Address(str(data["address"]))
        except (KeyError, ValueError) as error:
            raise FabricCommandError(f"set_toxics: bad address in {dict(data)!r}: {error}") from None
        kind = data.get("kind")
        if kind not in KINDS:
            raise FabricCommandError(f"set_toxics: kind {kind!r} is not one of {', '.join(KINDS)}")
        delay_ms, loss, port = float(data.get("delay_ms", 0)), float(data.get("loss_percent", 0)), int(data.get("port", 0))
        direction = str(data.get("direction", "ingress"))
        if delay_ms < 0 or not 0 <= loss <= 100 or not 0 <= port <= 65535 or direction not in ("ingress", "egress"):
            raise FabricCommandError(f"set_toxics: {dict(data)!r}: delay_ms >= 0, loss_percent 0-100, port 0-65535, "
                                     f"direction ingress or egress")
        if kind == "blackhole" and port == 0:
            raise FabricCommandError(f"set_toxics: a blackhole needs a port: {dict(data)!r}")
        return cls(address, kind, delay_ms / 1000.0, loss / 100.0, port, direction)


@dataclass(frozen=True)
class Sending:
    """What the toxics do to one direction of a flow (the bytes one node sends)."""

    delay_s: float = 0.0
    loss: float = 0.0
    jitter_s: float = 0.0  # a site link's path (sites.py): each chunk waits a further uniform [0, jitter_s)

    def extra_s(self, chance: "random.Random") -> float:
        """The extra wait of one chunk."""
        lost = self.loss > 0 and chance.random() < self.loss
        jitter = chance.uniform(0.0, self.jitter_s) if self.jitter_s > 0 else 0.0
        return self.delay_s + jitter + (RETRANSMIT_S if lost else 0.0)

    @property
    def active(self) -> bool:
        return self.delay_s > 0 or self.loss > 0 or self.jitter_s > 0


NONE = Sending()


class ToxicTable:
    def __init__(self, toxics: tuple[Toxic, ...] = ()) -> None:
        self.toxics = toxics

    @classmethod
    def from_json(cls, items: object) -> "ToxicTable":
        if not isinstance(items, list):
            raise FabricCommandError(f"set_toxics: toxics is {type(items).__name__}; expected a list")
        return cls(tuple(Toxic.from_json(item) for item in items))

    def sending(self, node: ipaddress.IPv4Address) -> Sending:
        """The latency and loss on what ``node`` sends."""
        delay = sum(t.delay_s for t in self.toxics if t.address == node and t.kind == "latency")
        kept = 1.0
        for toxic in self.toxics:
            if toxic.address == node and toxic.kind == "loss":
                kept *= 1.0 - toxic.loss
        return Sending(delay, 1.0 - kept) if delay or kept < 1.0 else NONE

    def blackholed(self, client: ipaddress.IPv4Address, server: ipaddress.IPv4Address, server_port: int) -> bool:
        """Whether a connection from ``client`` to ``server:server_port`` falls into a blackhole."""
        return any(t.kind == "blackhole" and t.port == server_port and (
            (t.direction == "ingress" and t.address == server) or (t.direction == "egress" and t.address == client))
            for t in self.toxics)
