"""Which registered node owns the client end of a TCP connection, asked of the kernel through /proc.

Why this mechanism (over network namespaces, the PostgreSQL startup packet and per-source links):
libpq cannot bind a source address, so a PostgreSQL
walreceiver, pg_basebackup or any libpq client reaches a fabric address from 127.0.0.1. Of the
exact ways to attribute such a connection, asking the kernel is the only one that is exact for
*every* protocol and needs no cooperation from the client: the client's socket is in
/proc/net/tcp under its own address and port (the peer address the fabric saw at accept), which
gives its inode, and ``socket:[inode]`` appears in /proc/<pid>/fd of exactly the processes that
hold it. Namespaces need root; the PostgreSQL startup packet only covers PostgreSQL (and not TLS);
per-source links need every client to be configured per destination.

Cost: one read of /proc/net/tcp plus a readlink of the registered processes' descriptors, paid
once per connection from an address no subnet or source holds (Python clients that bind a source
address never get here). Processes that hold the socket are tried first next time.

Limitation: reading /proc/<pid>/fd of another user's process needs root (or CAP_SYS_PTRACE).
A fabric running as an ordinary user identifies its own user's processes only; a node run as
``postgres`` by a non-root fabric is then seen as the host itself (``outside``), and
``denied_pids`` says so in the fabric's stats. Linux only.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
from pathlib import Path


def _hex_address(address: str, port: int) -> bytes:
    # The kernel prints the __be32 address as a native-endian u32 in hex.
    (value,) = struct.unpack("=I", socket.inet_aton(address))
    return b"%08X:%04X" % (value, port)


def socket_inode(client: tuple[str, int], server: tuple[str, int], proc: Path = Path("/proc")) -> int | None:
    """The inode of the TCP socket whose local end is ``client`` and remote end is ``server``, if any."""
    pattern = b" " + _hex_address(*client) + b" " + _hex_address(*server) + b" "
    try:
        table = (proc / "net" / "tcp").read_bytes()
    except OSError:
        return None
    at = table.find(pattern)
    if at < 0:
        return None
    line_end = table.find(b"\n", at)
    fields = table[table.rfind(b"\n", 0, at) + 1: line_end if line_end >= 0 else None].split()
    # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    return int(fields[9]) if len(fields) > 9 else None


class OwnerRegistry:
    """Registered processes (and their descendants), each belonging to a node's private address."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self._roots: dict[int, ipaddress.IPv4Address] = {}
        self._members: dict[int, int] = {}  # pid -> registered ancestor, refreshed when a lookup misses
        self.denied_pids: set[int] = set()  # processes whose descriptors we may not read (another user's)
        self.lookups = 0
        self.scans = 0

    def register(self, address: ipaddress.IPv4Address, pid: int) -> None:
        self._roots[pid] = address
        self._members[pid] = pid

    def unregister(self, pid: int) -> None:
        self._roots.pop(pid, None)
        self._members = {p: root for p, root in self._members.items() if root != pid}

    @property
    def registered(self) -> dict[int, str]:
        return {pid: str(address) for pid, address in self._roots.items()}

    def owner(self, client: tuple[str, int], server: tuple[str, int]) -> tuple[ipaddress.IPv4Address, int] | None:
        """The node address and pid holding the client end of ``client`` -> ``server``, or None."""
        if not self._roots:
            return None
        self.lookups += 1
        inode = socket_inode(client, server, self._proc)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        found = self._scan(target)
        if found is None:
            # A process forked since the last refresh (a new walreceiver, a backend) holds it.
            self._refresh_members()
            found = self._scan(target)
        if found is None:
            return None
        pid, root = found
        # Move the owner to the front: the same process usually opens the next connection too.
        self._members.pop(pid, None)
        self._members = {pid: root, **self._members}
        return self._roots[root], pid

    def _scan(self, target: str) -> tuple[int, int] | None:
        self.scans += 1
        for pid, root in list(self._members.items()):
            fd_dir = self._proc / str(pid) / "fd"
            try:
                names = os.listdir(fd_dir)
            except PermissionError:
                self.denied_pids.add(pid)
                continue
            except FileNotFoundError:
                self._members.pop(pid, None)
                continue
            for name in names:
                try:
                    if os.readlink(fd_dir / name) == target:
                        return pid, root
                except OSError:
                    continue
        return None

    def _refresh_members(self) -> None:
        members: dict[int, int] = {}
        for root in list(self._roots):
            if not (self._proc / str(root)).exists():
                self._roots.pop(root)
                continue
            pending = [root]
            while pending:
                pid = pending.pop()
                members[pid] = root
                pending.extend(c for c in self._children(pid) if c not in members)
        self._members = members

    def _children(self, pid: int) -> list[int]:
        # Each thread has its own children file: a child belongs to the thread that forked it.
        children: list[int] = []
        try:
            tasks = os.listdir(self._proc / str(pid) / "task")
        except OSError:
            return children
        for task in tasks:
            try:
                text = (self._proc / str(pid) / "task" / task / "children").read_text()
            except OSError:
                continue
            children.extend(int(c) for c in text.split())
        return children
