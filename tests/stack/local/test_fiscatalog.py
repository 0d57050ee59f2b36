"""FIS durations and selection modes, as the catalogue reads them."""
from __future__ import annotations

import pytest

from stack.local import fiscatalog


@pytest.mark.parametrize("text, seconds", [("PT1M", 60), ("PT12H", 43200), ("PT1H30M", 5400), ("PT90S", 90),
                                           ("PT0.5S", 0.5)])
def test_iso_durations(text: str, seconds: float) -> None:
    assert fiscatalog.duration_s(text) == seconds


@pytest.mark.parametrize("text", ["PT", "1M", "P1D", "PT-1M", "five minutes"])
def test_a_bad_duration_names_the_value_and_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="PT<hours>H<minutes>M<seconds>S"):
        fiscatalog.duration_s(text)


def first(items: list[str], k: int) -> list[str]:
    return items[:k]


@pytest.mark.parametrize("mode, count", [("ALL", 10), ("COUNT(3)", 3), ("COUNT(30)", 10), ("PERCENT(25)", 2),
                                         ("PERCENT(1)", 1), ("PERCENT(100)", 10)])
def test_selection_modes(mode: str, count: int) -> None:
    assert fiscatalog.pick(mode, [f"r{i}" for i in range(10)], first) == [f"r{i}" for i in range(count)]


@pytest.mark.parametrize("mode", ["SOME", "COUNT(0)", "PERCENT(0)", "PERCENT(101)", "count(1)", ""])
def test_a_bad_selection_mode_names_what_is_allowed(mode: str) -> None:
    with pytest.raises(ValueError, match=r"ALL, COUNT\(n\) with n >= 1, PERCENT\(n\) with n 1-100"):
        fiscatalog.selection(mode)
