"""Whether the report's charts can be drawn: reports.charts needs matplotlib, which only the ``charts``
extra installs (the core, AWS-path install has none). Without it a report says where each chart would be
and how to get it, rather than failing."""
from __future__ import annotations

from types import ModuleType

EXTRA = "charts"
MISSING = f"the charts need matplotlib, which is not installed: pip install 'gameday[{EXTRA}]'"


def charts() -> ModuleType | None:
    """reports.charts, or None when matplotlib is not installed (any other import error propagates)."""
    try:
        from reports import charts as module
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "matplotlib":
            raise
        return None
    return module
