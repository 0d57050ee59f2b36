"""Which AWS API operations only read: the rule a dry run and the read-only builder both apply."""
from __future__ import annotations

import re

READ_ONLY = re.compile(r"^(Describe|Get|List|BatchGet)[A-Z]")  # BatchGet*: DynamoDB items, X-Ray traces


def is_read_only(operation: str) -> bool:
    """True for the operations a dry run may send: Describe*, Get*, List* and BatchGet*."""
    return bool(READ_ONLY.match(operation))
