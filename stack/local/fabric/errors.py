"""The fabric's exceptions, rooted in base.errors."""
from __future__ import annotations

from base.errors import StackError


class FabricError(StackError):
    """The network fabric failed."""


class FabricCommandError(FabricError):
    """The fabric rejected a control command."""


class FabricUnavailable(FabricError):
    """The fabric process is not running or does not answer on its control socket."""
