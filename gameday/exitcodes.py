"""The exit codes of every `gameday` command, in one place (documented in README.md, as pytest documents its own).

Scripts and CI branch on these: 1 means the system under test or the account needs attention, 2 that
the command was used wrongly, 3 that it could not reach what it acts on, 4 that evidence cannot be trusted.
"""
from __future__ import annotations

OK = 0  # success
FAILED = 1  # a verdict failed, or leftover faults were found
USAGE = 2  # usage or configuration error (bad option, environment file, key file)
UNREACHABLE = 3  # infrastructure unreachable (the local stack or the AWS endpoint)
TAMPERED = 4  # an evidence pack failed verification
