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

Cost: one sock_diag question to the kernel (the socket's inode, by its four-tuple) plus a readlink of
the registered processes' descriptors, paid once per connection from an address no subnet or source
holds (Python clients that bind a source address never get here), on the fabric's event loop. On a
miss (the host's own clients, such as RDS's monitor probing its nodes on their addresses) the process
tree is read afresh and only processes new to it are looked at again. Processes that hold the socket
are tried first next time.

Limitation: reading /proc/<pid>/fd of another user's process needs root (or CAP_SYS_PTRACE).
A fabric running as an ordinary user identifies its own user's processes only; a node run as
``postgres`` by a non-root fabric is then seen as the host itself (``outside``), and
``denied_pids`` says so in the fabric's stats. Linux only.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from pathlib import Path


# sock_diag (linux/sock_diag.h, linux/inet_diag.h): ask the kernel for one TCP socket by its four-tuple.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
# inet_diag_req_v2: family, protocol, extensions, pad, states; then inet_diag_sockid: ports and addresses (in
# network order, so packed as bytes), interface, cookie.
_DIAG_REQUEST = struct.Struct("=BBBBI2s2s4s12x4s12xIII")
_DIAG_MESSAGE_INODE = struct.Struct("=I")
_DIAG_MESSAGE_INODE_AT = _NLMSG_HEADER.size + 4 + 48 + 16  # after the header, the socket id, expires/queues/uid


def socket_inode(client: tuple[str, int], server: tuple[str, int], proc: Path = Path("/proc")) -> int | None:
    """The inode of the TCP socket whose local end is ``client`` and remote end is ``server``, if any.

    Asked of the kernel by the exact four-tuple (sock_diag, as ss(8) does): reading /proc/net/tcp instead
    costs a pass over every socket the host has, TIME-WAIT ones included (thousands under health checks:
    about 6 ms a lookup, on the fabric's event loop). /proc/net/tcp remains the answer where netlink is
    refused, and when ``proc`` is not the real /proc (tests).
    """
    if proc == Path("/proc"):
        try:
            return _diag_inode(client, server)
        except OSError:
            pass
    return _proc_inode(client, server, proc)


def _diag_inode(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    request = _DIAG_REQUEST.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF,
                                 client[1].to_bytes(2, "big"), server[1].to_bytes(2, "big"),
                                 socket.inet_aton(client[0]), socket.inet_aton(server[0]),
                                 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    header = _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        sock.sendto(header + request, (0, 0))
        answer = sock.recv(8192)
    length, kind, _, _, _ = _NLMSG_HEADER.unpack_from(answer)
    if kind == NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", answer, _NLMSG_HEADER.size)
        if -error == errno.ENOENT:
            return None  # no such socket (closed already, or never ours to see)
        raise OSError(-error, f"sock_diag lookup of {client} -> {server}: {os.strerror(-error)}")
    if kind != SOCK_DIAG_BY_FAMILY or length < _DIAG_MESSAGE_INODE_AT + _DIAG_MESSAGE_INODE.size:
        raise OSError(errno.EPROTO, f"sock_diag answered message type {kind} of {length} bytes")
    (inode,) = _DIAG_MESSAGE_INODE.unpack_from(answer, _DIAG_MESSAGE_INODE_AT)
    return int(inode)


def _hex_address(address: str, port: int) -> bytes:
    # The kernel prints the __be32 address as a native-endian u32 in hex.
    (value,) = struct.unpack("=I", socket.inet_aton(address))
    return b"%08X:%04X" % (value, port)


def _proc_inode(client: tuple[str, int], server: tuple[str, int], proc: Path) -> int | None:
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
        found = self._scan(target, list(self._members))
        if found is None:
            # A process forked since the last refresh (a new walreceiver, a backend) holds it: only those are
            # left to look at.
            known = set(self._members)
            self._refresh_members()
            found = self._scan(target, [pid for pid in self._members if pid not in known])
        if found is None:
            return None
        pid, root = found
        # Move the owner to the front: the same process usually opens the next connection too.
        self._members.pop(pid, None)
        self._members = {pid: root, **self._members}
        return self._roots[root], pid

    def _scan(self, target: str, pids: list[int]) -> tuple[int, int] | None:
        self.scans += 1
        for pid in pids:
            root = self._members.get(pid)
            if root is None:
                continue
            fd_dir = f"{self._proc}/{pid}/fd"  # strings, not Paths: this loop readlinks every descriptor
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
                    if os.readlink(f"{fd_dir}/{name}") == target:
                        return pid, root
                except OSError:
                    continue
        return None

    def _refresh_members(self) -> None:
        members: dict[int, int] = {}
        for root in list(self._roots):
            if not os.path.exists(f"{self._proc}/{root}"):
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
        task_dir = f"{self._proc}/{pid}/task"
        try:
            tasks = os.listdir(task_dir)
        except OSError:
            return children
        for task in tasks:
            try:
                with open(f"{task_dir}/{task}/children", "rb") as file:
                    text = file.read()
            except OSError:
                continue
            children.extend(int(c) for c in text.split())
        return children
