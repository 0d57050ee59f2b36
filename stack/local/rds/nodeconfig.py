"""How a PostgreSQL node is configured and reached: its settings, logins and upstream addresses.

Everything here is plain data: the settings every node shares, the master and replication logins,
an upstream as a libpq connection string, WAL archiving's command, and a node's start options.
The node itself (stack.local.rds.postgres) puts them on its command line and in its files.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stack.local.rds import replication

PORT = 5432

# Shared by every node; copied between nodes by pg_basebackup and pg_rewind, which is fine.
BASE_SETTINGS = {
    "wal_level": "replica",
    "wal_log_hints": "on",  # pg_rewind needs it (or data checksums)
    "wal_keep_size": "'256MB'",  # a rewound old primary needs the WAL since the fork
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "synchronous_commit": "on",
    "shared_buffers": "'16MB'",  # many nodes per machine
    "max_connections": "60",
    "hot_standby_feedback": "on",
    "wal_receiver_status_interval": "'1s'",
    "log_line_prefix": "'%m [%p] %q%a '",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
    "unix_socket_permissions": "0777",  # the fabric's forwarder does not run as postgres
}


REPLICATION_USER = replication.USER


@dataclass(frozen=True)
class Credentials:
    """The master user's login, and the replication role's password (shared by every node of a family:
    the role is in the catalog that physical replication copies)."""

    user: str
    password: str = field(repr=False)
    replication_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def replication(self) -> "Credentials":
        return Credentials(REPLICATION_USER, self.replication_password, self.replication_password)


@dataclass(frozen=True)
class Upstream:
    """Where a node reaches another: an IP address (the fabric) or an absolute socket directory."""

    host: str
    port: int = PORT

    def conninfo(self, passfile: Path, application_name: str = "", dbname: str = "") -> str:
        """A libpq string for the replication role; its password comes from ``passfile``."""
        parts = [f"host={_quote(self.host)}", f"port={self.port}", f"user={REPLICATION_USER}",
                 f"passfile={_quote(str(passfile))}", "connect_timeout=2"]
        if application_name:
            parts.append(f"application_name={_quote(application_name)}")
        if dbname:
            parts.append(f"dbname={_quote(dbname)}")
        return " ".join(parts)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conf_literal(value: str) -> str:
    """A string in postgresql.conf syntax: the parser reads backslash escapes and doubled quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True)
class Archiving:
    """WAL archiving into ``wal_dir``; ``always`` also archives on a standby (no gap after failover)."""

    wal_dir: Path
    mode: Literal["on", "always"] = "always"

    def command(self) -> str:
        # Copy then rename, so a reader never sees half a segment; a segment both nodes of a pair
        # archive (mode=always) is identical, so an existing identical file counts as done.
        target = f"{self.wal_dir}/%f"
        return (f"test -f {target} && cmp -s %p {target} || "
                f"(cp %p {target}.tmp.$$ && mv -f {target}.tmp.$$ {target})")


@dataclass
class NodeOptions:
    hot_standby: bool = True
    archiving: Archiving | None = None
    replication_timeout_s: float = 6.0  # wal_sender/receiver_timeout: how fast a cut link is noticed
    extra: dict[str, str] = field(default_factory=dict)
