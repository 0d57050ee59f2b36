"""One precedence rule: option, then environment variable, then ini, then default."""
from __future__ import annotations

from typing import Any

import pytest

from gameday import settings
from base.errors import SettingsError


def lookup(values: dict[str, Any]) -> Any:
    return lambda name: values.get(name)


def test_defaults() -> None:
    resolved = settings.resolve(lookup({}), lookup({}), {})
    assert (resolved.env, resolved.instance, resolved.keep_stack, resolved.build) == ("local", None, False, False)
    assert resolved.sources["env"] == "default"


@pytest.mark.parametrize("option,variable,ini,expected,source", [
    ("opt", "var", "ini", "opt", "option"),
    (None, "var", "ini", "var", "environment"),
    (None, None, "ini", "ini", "ini"),
    (None, None, None, "local", "default"),
])
def test_precedence(option: Any, variable: Any, ini: Any, expected: str, source: str) -> None:
    environ = {"GAMEDAY_ENV": variable} if variable else {}
    resolved = settings.resolve(lookup({"env": option}), lookup({"gameday_env": ini}), environ)
    assert resolved.env == expected and resolved.sources["env"] == source


def test_bad_values_name_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"--gameday-instance / GAMEDAY_INSTANCE: '11' is not allowed"):
        settings.resolve(lookup({}), lookup({}), {"GAMEDAY_INSTANCE": "11"})
    with pytest.raises(SettingsError, match=r"--gameday-keep-stack / GAMEDAY_KEEP_STACK: 'maybe' is not allowed; use true or false"):
        settings.resolve(lookup({}), lookup({}), {"GAMEDAY_KEEP_STACK": "maybe"})


def test_every_bad_setting_is_reported_at_once() -> None:
    environ = {"GAMEDAY_INSTANCE": "12", "GAMEDAY_KEEP_STACK": "maybe", "GAMEDAY_DRY_RUN": "perhaps"}
    with pytest.raises(SettingsError) as raised:
        settings.resolve(lookup({}), lookup({}), environ)
    lines = str(raised.value).splitlines()
    assert len(lines) == 3, lines
    assert "GAMEDAY_INSTANCE: '12'" in lines[0] and "'maybe'" in lines[1] and "'perhaps'" in lines[2]


def test_attach_is_a_setting_and_excludes_building() -> None:
    resolved = settings.resolve(lookup({}), lookup({}), {"GAMEDAY_ATTACH": "true"})
    assert resolved.attach and not resolved.build and resolved.sources["attach"] == "environment"
    with pytest.raises(SettingsError, match="--gameday-attach and --gameday-build-stack are both set"):
        settings.resolve(lookup({"attach": True}), lookup({}), {"GAMEDAY_BUILD_STACK": "true"})


def test_a_bad_ini_value_names_the_ini_file_and_key() -> None:
    with pytest.raises(SettingsError) as raised:
        settings.resolve(lookup({}), lookup({"gameday_instance": "42"}), {}, ini_file="/p/pytest.ini")
    assert str(raised.value) == "/p/pytest.ini: gameday_instance: '42' is not allowed; use an integer from 0 to 9"
    # The same value from the variable is blamed on the variable, as before.
    with pytest.raises(SettingsError, match=r"^--gameday-instance / GAMEDAY_INSTANCE: '42'"):
        settings.resolve(lookup({}), lookup({}), {"GAMEDAY_INSTANCE": "42"}, ini_file="/p/pytest.ini")


def test_an_ini_value_that_cannot_be_read_is_reported_with_the_other_problems() -> None:
    def ini(name: str) -> Any:
        if name == "gameday_dry_run":  # as pytest's getini fails on a bool key set to "maybe"
            raise SettingsError("/p/pytest.ini: gameday_dry_run: invalid truth value 'maybe'; use true or false")
        return {"gameday_instance": "42"}.get(name)

    with pytest.raises(SettingsError) as raised:
        settings.resolve(lookup({}), ini, {}, ini_file="/p/pytest.ini")
    assert str(raised.value).splitlines() == [
        "/p/pytest.ini: gameday_dry_run: invalid truth value 'maybe'; use true or false",
        "/p/pytest.ini: gameday_instance: '42' is not allowed; use an integer from 0 to 9"]
