"""Errors raised by the local Route 53 part."""
from __future__ import annotations

from base.errors import StackError


class Route53Error(StackError):
    """The local Route 53 part failed."""


class RecordError(Route53Error):
    """A resource record set cannot be served."""


class HealthCheckError(Route53Error):
    """A health check cannot be run."""
