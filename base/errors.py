"""One exception hierarchy for the whole framework.

Every message names the thing, the bad value and what is allowed or how to fix it.
The CLI prints ``str(error)`` without a traceback for any ``GamedayError``.
"""
from __future__ import annotations

from base import exitcodes


class GamedayError(Exception):
    """gameday failed."""

    exit_code = exitcodes.USAGE  # what the CLI exits with; most failures are a bad input or set-up

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class EnvironmentFileError(GamedayError):
    """The environment file is not valid."""


class SettingsError(GamedayError):
    """A setting has a value that is not allowed."""


class StackError(GamedayError):
    """The local stack could not be brought up, found or brought down."""


class StackNotRunning(StackError):
    """No local stack is running for this instance; start one with `gameday stack up`."""

    exit_code = exitcodes.UNREACHABLE


class Unreachable(GamedayError):
    """The infrastructure did not answer (the local stack or an AWS endpoint)."""

    exit_code = exitcodes.UNREACHABLE


class StackDegraded(StackError):
    """The local stack is degraded: a data plane does not enforce everything the API accepted."""

    exit_code = exitcodes.UNREACHABLE  # the infrastructure cannot do its part: not a usage error


class BuildError(GamedayError):
    """The reference stack could not be built."""


class FaultError(GamedayError):
    """A fault could not be injected or rolled back."""


class ProbeError(GamedayError):
    """A probe could not take a sample."""
