"""Errors of the RDS data plane (real PostgreSQL behind the RDS API)."""
from __future__ import annotations

from base.errors import StackError


class PostgresError(StackError):
    """A PostgreSQL node could not be created, started, stopped or reconfigured."""


class PostgresTimeout(PostgresError):
    """A PostgreSQL node did not reach the awaited state before its deadline."""


class CheckpointFailed(StackError):
    """The source of a pg_rewind could not be checkpointed (most often: it is cut off). Nothing was changed,
    so unlike a failed rewind this is no reason to clone the node afresh."""


class RdsPartError(StackError):
    """The RDS part could not carry out an API call's real effect."""
