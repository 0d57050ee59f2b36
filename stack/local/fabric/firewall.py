"""The optional kernel path (root and nftables): drop the handshake of denied new flows, so connect() times out.

In userspace the kernel completes every handshake before the fabric sees the connection, so a
client of a denied destination connects and then waits for bytes that never come. With this
path the NACLs are also compiled into an nftables table that drops a denied SYN (client ->
listener) or SYN-ACK (listener -> client), exactly as AWS drops them: connect() itself times out.
Established flows are still gated in userspace (link.py), which keeps held bytes and resumes at once.

The same evaluation as acl.py, in nftables terms: per subnet an ``out_<n>`` chain (its outbound
rules: peer = daddr) and an ``in_<n>`` chain (inbound: peer = saddr), each ending in the implicit
deny; an allowing rule ``return``s to the next check, a denying one drops. Only packets from
addresses a subnet or external source holds are checked: the kernel cannot tell which node an
unbound 127.0.0.1 client (libpq) is, so those flows are left to the userspace path.

The table is the whole state; every update replaces it in one nft transaction.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Iterable

from stack.local.fabric.acl import ALL_PROTOCOLS, TCP, Acl, AclTable, Rule
from stack.local.fabric.errors import FabricError
from stack.local.fabric.topology import Topology

NFT_TIMEOUT_S = 10.0


def available() -> str | None:
    """Why the kernel path cannot be used here, or None when it can."""
    if os.geteuid() != 0:
        return "the kernel path needs root (nftables)"
    if shutil.which("nft") is None:
        return "the kernel path needs the nft command (Debian package nftables)"
    return None


def _nft(script: str) -> None:
    result = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True, timeout=NFT_TIMEOUT_S)
    if result.returncode != 0:
        raise FabricError(f"nft rejected the fabric's ruleset: {result.stderr.strip()}")


def remove_table(name: str) -> None:
    """Delete the table if it exists (a crashed fabric's leftover, or at stop)."""
    if shutil.which("nft") is not None:
        subprocess.run(["nft", "delete", "table", "ip", name], capture_output=True, timeout=NFT_TIMEOUT_S)


def _drop(label: str) -> str:
    # The comment names the NACL rule, so stats can say which rule dropped how many handshakes.
    return f'counter drop comment "{label}"'


def _rule(rule: Rule, peer: str, label: str) -> str | None:
    """One NACL rule as an nftables rule; None when it can never match a TCP packet."""
    if rule.network is None:
        return None  # IPv6
    if rule.protocol not in (ALL_PROTOCOLS, TCP):
        return None  # UDP, ICMP, ...: the fabric only carries TCP
    match = f"ip {peer} {rule.network}"
    if rule.protocol == TCP and rule.port_from is not None:
        upper = rule.port_to if rule.port_to is not None else rule.port_from
        match += f" tcp dport {rule.port_from}-{upper}"
    return f"{match} {'return' if rule.allow else _drop(f'{label} rule {rule.label}')}"


def _chain(name: str, acl: Acl, subnet_id: str, egress: bool) -> str:
    label = f"{acl.acl_id} ({subnet_id}) {'outbound' if egress else 'inbound'}"
    rules = acl.outbound if egress else acl.inbound
    lines = [line for line in (_rule(r, "daddr" if egress else "saddr", label) for r in rules) if line is not None]
    lines.append(_drop(f"{label} rule *"))  # the implicit `*` rule
    body = "\n".join(f"    {line}" for line in lines)
    return f"  chain {name} {{\n{body}\n  }}\n"


def drops(name: str) -> list[dict[str, object]]:
    """Handshakes the kernel dropped, per NACL rule (its comment), from the table's counters."""
    result = subprocess.run(["nft", "-j", "list", "table", "ip", name], capture_output=True, text=True,
                            timeout=NFT_TIMEOUT_S)
    if result.returncode != 0:
        return []
    counted = []
    for item in json.loads(result.stdout).get("nftables", []):
        rule = item.get("rule")
        if not rule or "comment" not in rule:
            continue
        packets = next((e["counter"]["packets"] for e in rule.get("expr", []) if "counter" in e), 0)
        if packets:
            counted.append({"reason": rule["comment"], "handshake_packets": packets})
    return counted


def ruleset(name: str, topology: Topology, acls: AclTable, listeners: Iterable[tuple[str, int]]) -> str:
    """The complete nftables transaction that replaces table ``name``."""
    exposed = sorted(set(listeners))
    known = sorted({str(n) for n in [*(s.network for s in topology.subnets), *(s.network for s in topology.sources)]})
    chains, checks = [], []
    for subnet in topology.subnets:
        checks.append(f"    ip saddr {subnet.network} ip daddr {subnet.network} return")  # within a subnet
    for index, subnet in enumerate(topology.subnets):
        acl: Acl | None = acls.by_subnet.get(subnet.subnet_id)
        if acl is None:
            continue
        chains.append(_chain(f"out_{index}", acl, subnet.subnet_id, egress=True))
        chains.append(_chain(f"in_{index}", acl, subnet.subnet_id, egress=False))
        checks.append(f"    ip saddr {subnet.network} jump out_{index}")
    for index, subnet in enumerate(topology.subnets):
        if subnet.subnet_id in acls.by_subnet:
            checks.append(f"    ip daddr {subnet.network} jump in_{index}")
    listener_set = ", ".join(f"{a} . {p}" for a, p in exposed)
    known_set = ", ".join(known)
    handshake = []
    if exposed and known:
        handshake = [
            "    tcp flags & (syn | ack) == syn ip daddr . tcp dport @listeners ip saddr @known jump check",
            "    tcp flags & (syn | ack) == syn | ack ip saddr . tcp sport @listeners ip daddr @known jump check",
        ]
    return (
        f"table ip {name} {{}}\n"
        f"delete table ip {name}\n"
        f"table ip {name} {{\n"
        f"  set listeners {{\n    type ipv4_addr . inet_service\n"
        + (f"    elements = {{ {listener_set} }}\n" if listener_set else "")
        + "  }\n"
        "  set known {\n    type ipv4_addr\n    flags interval\n    auto-merge\n"
        + (f"    elements = {{ {known_set} }}\n" if known_set else "")
        + "  }\n"
        + "".join(chains)
        + "  chain check {\n" + "".join(f"{line}\n" for line in checks) + "  }\n"
        "  chain input {\n    type filter hook input priority filter; policy accept;\n"
        + "".join(f"{line}\n" for line in handshake)
        + "  }\n}\n"
    )


class Firewall:
    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def create(cls, name: str) -> "Firewall":
        """Raises FabricError when this machine cannot run the kernel path."""
        reason = available()
        if reason is not None:
            raise FabricError(f"--kernel-drop: {reason}")
        firewall = cls(name)
        remove_table(name)
        _nft(ruleset(name, Topology(), AclTable.empty(), []))
        return firewall

    def update(self, topology: Topology, acls: AclTable, listeners: Iterable[tuple[str, int]]) -> None:
        """Replace the table: the handshakes to ``listeners`` (address, port) that the NACLs deny are dropped."""
        _nft(ruleset(self.name, topology, acls, listeners))

    def drops(self) -> list[dict[str, object]]:
        return drops(self.name)

    def close(self) -> None:
        remove_table(self.name)
