"""gameday's settings, and the one rule that decides which value wins.

Precedence, highest first: the command-line option, then the environment variable, then the ini key
(pytest.ini / pyproject.toml ``[tool.pytest.ini_options]``), then the default. The README's settings
table lists the same rows as ``SETTINGS``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from base.numbers import whole_number
from base.errors import SettingsError


@dataclass(frozen=True)
class Setting:
    name: str
    option: str  # namespaced, like every option of this plugin, so it cannot clash with another plugin's
    variable: str
    ini: str
    default: str
    help: str
    aliases: tuple[str, ...] = ()  # the short spellings the README has always documented

    @property
    def is_bool(self) -> bool:
        return self.default in ("true", "false")


SETTINGS = (
    Setting("env", "--gameday-env", "GAMEDAY_ENV", "gameday_env", "local",
            "environment: a name in ./environments/ or the bundled ones, or a path to a .yaml file", ("--env",)),
    Setting("instance", "--gameday-instance", "GAMEDAY_INSTANCE", "gameday_instance", "",
            "local stack instance 0-9 (default: 1 + the xdist worker number under pytest, so tests never touch instance 0)"),
    Setting("keep_stack", "--gameday-keep-stack", "GAMEDAY_KEEP_STACK", "gameday_keep_stack", "false",
            "leave a local stack this session started running afterwards", ("--keep-stack",)),
    Setting("build", "--gameday-build-stack", "GAMEDAY_BUILD_STACK", "gameday_build_stack", "false",
            "build the reference stack in an aws environment (local environments always build)", ("--build-stack",)),
    Setting("attach", "--gameday-attach", "GAMEDAY_ATTACH", "gameday_attach", "false",
            "use the stack that already exists, found by its tags (docs/real-aws.md); build nothing", ("--attach",)),
    Setting("dry_run", "--gameday-dry-run", "GAMEDAY_DRY_RUN", "gameday_dry_run", "false",
            "print each fault's plan (targets, API calls, rollback) and make no mutating call", ("--dry-run",)),
)


@dataclass(frozen=True)
class Resolved:
    env: str
    instance: int | None
    keep_stack: bool
    build: bool
    sources: dict[str, str]  # setting -> where its value came from, for the report
    dry_run: bool = False
    attach: bool = False


def _where(setting: Setting) -> str:
    return f"{setting.option} / {setting.variable}"


def _bool(setting: Setting, value: str, where: str | None = None) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{where or _where(setting)}: {value!r} is not allowed; use true or false")


def _instance(setting: Setting, value: str, where: str | None = None) -> int | None:
    if value == "":
        return None
    number = whole_number(value)
    if number is None or number > 9:
        raise SettingsError(f"{where or _where(setting)}: {value!r} is not allowed; use an integer from 0 to 9")
    return number


def resolve(option: Callable[[str], Any], ini: Callable[[str], Any], environ: dict[str, str] | None = None,
            ini_file: str = "the ini file") -> Resolved:
    """Apply the precedence rule. ``option`` and ``ini`` look a value up by name (None when unset); ``ini`` may
    raise SettingsError for a value it cannot read. ``ini_file`` names the file in messages about its values.

    Raises SettingsError with every problem found, one per line."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    problems = []
    for setting in SETTINGS:
        try:
            from_ini = ini(setting.ini)
        except SettingsError as error:  # reported with the others, not instead of them
            problems.append(str(error))
            from_ini = None
        for source, value in (("option", option(setting.name)), ("environment", environ.get(setting.variable)),
                              ("ini", from_ini), ("default", setting.default)):
            # An ini bool arrives typed: False set in the file is a value, not an absence.
            if (value is not None and value != "") or source == "default":
                values[setting.name] = str(value).lower() if isinstance(value, bool) else str(value)
                sources[setting.name] = source
                break
    by_name = {s.name: s for s in SETTINGS}
    parsed: dict[str, Any] = {}
    for name, parse in (("instance", _instance), ("keep_stack", _bool), ("build", _bool), ("dry_run", _bool),
                          ("attach", _bool)):
        setting = by_name[name]
        # A bad value is blamed on where it was set: the ini file's key, else the option or variable.
        where = f"{ini_file}: {setting.ini}" if sources[name] == "ini" else _where(setting)
        try:
            parsed[name] = parse(setting, values[name], where)
        except SettingsError as error:
            problems.append(str(error))
    if parsed.get("attach") and parsed.get("build"):
        problems.append(f"{by_name['attach'].option} and {by_name['build'].option} are both set: attaching uses the "
                        "stack that exists, building makes it; choose one")
    if problems:  # every bad setting at once, not one per attempt
        raise SettingsError("\n".join(problems))
    return Resolved(env=values["env"], sources=sources, **parsed)
