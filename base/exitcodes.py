"""The exit codes of the `gameday` command, one meaning each (documented in docs/cli.md and the README).

Like pytest's own exit codes, a CI job can tell a failed verdict from a broken set-up by the code alone.
"""
from __future__ import annotations

OK = 0  # success: the verdict passed, nothing was left over, the pack verified
FAILED = 1  # the verdict failed, or `scan` found leftover faults, or `recover` could not roll one back
USAGE = 2  # usage or configuration error: a bad argument, setting, environment file or credentials
UNREACHABLE = 3  # the infrastructure did not answer: the local stack is down, or an AWS endpoint is unreachable
TAMPERED = 4  # `verify`: the evidence pack was changed after it was written
