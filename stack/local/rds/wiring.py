"""How the RDS part plugs nodes into the services other parts provide: ``Network`` (the fabric's
addresses) and ``ServiceRecords`` (Route 53's endpoint names), see stack.local.services.

Replication goes through the fabric: a standby's primary_conninfo names the primary's private
address, so a NACL or Region fault cuts replication exactly as it cuts clients. Without the fabric
(unit tests only, ``via_fabric=False``) nodes reach each other through their Unix sockets.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Protocol

from stack.local.part import PartContext
from stack.local.rds.nodeconfig import PORT, Upstream
from stack.local.rds.postgres import Node
from stack.local.services import Network, ServiceRecords


@dataclass(frozen=True)
class Placement:
    """Where a node lives: its Availability Zone and private address in that AZ's subnet."""

    region: str
    az: str
    address: str
    port: int = PORT


@dataclass
class Member:
    """A node of a DB instance and where it lives."""

    node: Node
    placement: Placement


class Wiring(Protocol):
    def upstream(self, member: Member) -> Upstream:
        """How another node (or a backup) reaches ``member``."""

    def attach(self, member: Member) -> None:
        """Expose the node on its address and register its postmaster (call after every start)."""

    def detach(self, member: Member) -> None:
        """Withdraw the node's address."""

    def point(self, fqdn: str, address: str) -> None:
        """Make the endpoint name resolve to ``address``."""

    def unpoint(self, fqdn: str) -> None:
        """Remove the endpoint name."""

    def probe(self, member: Member, timeout_s: float) -> bool | None:
        """Whether the node answers on its address from outside its subnet; None when there is no network to ask."""


# PostgreSQL's SSLRequest: any server answers it with one byte ('N' here) before authentication, even a
# standby that accepts no connections. The fabric accepts TCP itself, so a bare connect proves nothing.
SSL_REQUEST = struct.pack("!II", 8, 80877103)


# A cut address drops the SYN, and the kernel sends it again only after a second: a connect that has not
# completed in this long is given up and started afresh, so an address the cut lifts from mid-probe answers.
CONNECT_ATTEMPT_S = 0.1


def answers(address: str, port: int, timeout_s: float) -> bool:
    """Whether a PostgreSQL server answers on ``address`` at any moment within ``timeout_s``.

    A probe whose SYN a cut dropped keeps trying until the deadline; any other failure (refused, reset,
    closed before the answer) is an answer of "no" at once."""
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            connection = socket.create_connection((address, port), timeout=min(remaining, CONNECT_ATTEMPT_S))
        except TimeoutError:
            continue
        except OSError:
            return False
        try:
            with connection:
                connection.settimeout(max(0.001, deadline - time.monotonic()))
                connection.sendall(SSL_REQUEST)
                return connection.recv(1) in (b"N", b"S")
        except OSError:
            return False
    return False


class ServiceWiring:
    """Wiring through the services the other parts provide, looked up at use time (``context.require``)."""

    def __init__(self, context: PartContext, endpoint_ttl_s: int, via_fabric: bool = True) -> None:
        self._context = context
        self._ttl_s = endpoint_ttl_s  # AWS seconds: ServiceRecords applies the time scale
        self.via_fabric = via_fabric

    def _network(self) -> Network:
        return self._context.require(Network)

    def _records(self) -> ServiceRecords:
        return self._context.require(ServiceRecords)

    def upstream(self, member: Member) -> Upstream:
        if self.via_fabric:
            return Upstream(member.placement.address, member.placement.port)
        return member.node.local

    def attach(self, member: Member) -> None:
        network = self._network()
        network.expose(member.placement.address, member.placement.port, backend=f"unix:{member.node.socket_path}")
        pid = member.node.pid
        if pid is not None:
            network.register_process(member.placement.address, pid)

    def detach(self, member: Member) -> None:
        self._network().unexpose(member.placement.address, member.placement.port)

    def point(self, fqdn: str, address: str) -> None:
        self._records().set_service_record(fqdn, "A", [address], self._ttl_s)

    def unpoint(self, fqdn: str) -> None:
        self._records().remove_service_record(fqdn)

    def probe(self, member: Member, timeout_s: float) -> bool | None:
        # From the host (the fabric's "outside"): a NACL on the node's subnet cuts it, as it cuts RDS's monitor.
        if not self.via_fabric:
            return None
        return answers(member.placement.address, member.placement.port, timeout_s)
