"""The replication role every node of an instance replicates, clones and rewinds with, as RDS does.

RDS for PostgreSQL creates its master user NOREPLICATION and replicates with an internal role,
``rdsrepladmin``. Here that role is a LOGIN REPLICATION role (not a superuser) with the grants
pg_rewind needs on its source. Its password never reaches a command line, a setting or a log:

- the server gets a SCRAM verifier computed here, never the cleartext (a failed statement is logged);
- pg_basebackup, pg_rewind and the walreceiver read it from a passfile only postgres can read.
"""
from __future__ import annotations

import base64

import scramp

USER = "rdsrepladmin"
# What pg_rewind calls on its source, granted so that it needs no superuser (PostgreSQL's pg_rewind
# documentation), and pg_checkpoint (PostgreSQL 15) for the checkpoint a rewind needs first.
GRANTS = (
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO {USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO {USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO {USER}",
    f"GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO {USER}",
    f"GRANT pg_checkpoint TO {USER}",
)
SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def scram_verifier(password: str) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>."""
    salt, stored_key, server_key, iterations = scramp.ScramMechanism("SCRAM-SHA-256").make_auth_info(
        password, iteration_count=SCRAM_ITERATIONS)

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def passfile_line(password: str) -> str:
    """The libpq passfile entry (host:port:database:user:password) for the role, any server."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:{USER}:{escaped}\n"
