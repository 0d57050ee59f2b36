"""Whole numbers written as text by people, clients and peers.

``str.isdigit`` is not the test for these: it passes digits such as '²' that ``int`` refuses, so a check
built on it turned such input into a traceback (or a 500) instead of the error it meant to give.
"""
from __future__ import annotations


def whole_number(text: str) -> int | None:
    """The non-negative integer ``text`` writes in ASCII digits (no sign, no spaces), else None."""
    return int(text) if text.isascii() and text.isdigit() else None
