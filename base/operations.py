"""Which AWS API operations only read: the rule a dry run and the read-only builder both apply."""
from __future__ import annotations

import re

READ_ONLY = re.compile(r"^(Describe|Get|List)[A-Z]")


def is_read_only(operation: str) -> bool:
    """True for the operations a dry run may send: Describe*, Get* and List*."""
    return bool(READ_ONLY.match(operation))
