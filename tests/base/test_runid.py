"""The run id: GAMEDAY_RUN_ID wins and must be a usable tag value; otherwise one is made once per process."""
from __future__ import annotations

import re

import pytest

from base import runid
from base.errors import SettingsError


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runid, "_current", None)


def test_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEDAY_RUN_ID", "gh-1234-1")
    assert runid.current() == "gh-1234-1"


def test_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAMEDAY_RUN_ID", raising=False)
    first = runid.current()
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", first)
    assert runid.current() == first


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEDAY_RUN_ID", "no spaces/please")
    with pytest.raises(SettingsError, match=r"GAMEDAY_RUN_ID: 'no spaces/please' is not allowed; use 1-64 letters"):
        runid.current()
