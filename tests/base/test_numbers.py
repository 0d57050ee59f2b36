"""whole_number: ASCII digits only, because str.isdigit passes digits int() refuses."""
from __future__ import annotations

import pytest

from base.numbers import whole_number


@pytest.mark.parametrize("text,number", [("0", 0), ("007", 7), ("32766", 32766)])
def test_ascii_digits_are_a_whole_number(text: str, number: int) -> None:
    assert whole_number(text) == number


@pytest.mark.parametrize("text", ["", "²", "٣", "-1", "+1", " 1", "1.0", "1e3", "abc"])
def test_anything_else_is_none(text: str) -> None:
    assert whole_number(text) is None
