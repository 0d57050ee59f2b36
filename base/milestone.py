"""The moments a DR timeline is read by: a closed set, so a misspelt milestone is an error, not a new one.

An experiment marks a moment on its timeline (``Scenario.mark`` or ``Timeline.record(..., milestone=...)``)
by one of these names; the evidence derives the others (``reports.milestones``)::

    scenario.mark(Milestone.FAILOVER, "RDS reports the database available in the other AZ")

Anything else is refused with the list of allowed names.
"""
from __future__ import annotations

from enum import StrEnum


class Milestone(StrEnum):
    FAULT_INJECTED = "fault injected"  # the fault's last API call returned
    DETECTION = "detection"  # the probes first saw the failure (not the injection: nothing is seen yet)
    FAILOVER = "failover"  # traffic or the writer moved to the healthy side
    RECOVERY = "recovery"  # users are served again, for a whole stability window
    ROLLED_BACK = "rolled back"  # the fault was undone

    @classmethod
    def parse(cls, value: object, where: str = "milestone") -> Milestone:
        """``value`` as a Milestone; a ValueError naming ``where``, the value and the allowed names otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{where}: {value!r} is not a milestone; allowed: {allowed}")
