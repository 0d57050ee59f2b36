"""botocore's retry settings: gameday's defaults, unless AWS_MAX_ATTEMPTS / AWS_RETRY_MODE say otherwise.

A ``retries`` key in a client's Config outranks the environment in botocore, so a hard-coded value
would silently ignore the variables every AWS SDK documents. ``retries`` leaves out each key the
environment sets, and botocore then reads that variable itself.
"""
from __future__ import annotations

import os
from typing import Mapping

from base.numbers import whole_number
from base.errors import SettingsError

MODES = ("legacy", "standard", "adaptive")  # botocore.config.Config._validate_retry_configuration


def retries(total_attempts: int, mode: str = "standard", environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The ``retries`` dict for ``botocore.config.Config``: ``total_attempts`` counts the first try.

    Raises SettingsError naming every bad variable (botocore would raise a bare ValueError later).
    """
    environ = os.environ if environ is None else environ
    attempts, chosen_mode = environ.get("AWS_MAX_ATTEMPTS", "").strip(), environ.get("AWS_RETRY_MODE", "").strip()
    problems = []
    if attempts and (whole_number(attempts) or 0) < 1:
        problems.append(f"AWS_MAX_ATTEMPTS: {attempts!r} is not allowed; use an integer >= 1 (total attempts, "
                        f"the first one included)")
    if chosen_mode and chosen_mode not in MODES:
        problems.append(f"AWS_RETRY_MODE: {chosen_mode!r} is not allowed; use one of {', '.join(MODES)}")
    if problems:
        raise SettingsError("\n".join(problems))
    config: dict[str, object] = {}
    if not attempts:
        config["total_max_attempts"] = total_attempts
    if not chosen_mode:
        config["mode"] = mode
    return config
