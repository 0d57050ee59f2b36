"""Errors of the RDS data plane (real PostgreSQL behind the RDS API)."""
from __future__ import annotations

from base.errors import StackError


class PostgresError(StackError):
    """A PostgreSQL node could not be created, started, stopped or reconfigured."""


class PostgresTimeout(PostgresError):
    """A PostgreSQL node did not reach the awaited state before its deadline."""


class RdsPartError(StackError):
    """The RDS part could not carry out an API call's real effect."""
