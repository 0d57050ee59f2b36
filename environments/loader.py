"""Find and load environment files into the validated model.

``load("local")`` reads ./environments/local.yaml when the project in the current directory has one,
else the bundled environments/local.yaml; a path loads that file. Every problem is reported
as ``<file>: <field.path>: <bad value>: <what is allowed>``, one line each, without a traceback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from environments.model import Environment, LocalEnvironment, AwsEnvironment
from base import yamlfile
from base.errors import EnvironmentFileError

DIRECTORY = Path(__file__).resolve().parent
_ADAPTER: TypeAdapter[LocalEnvironment | AwsEnvironment] = TypeAdapter(Environment)


def project_directory() -> Path:
    """A project's own environments: ./environments/ (`gameday init` writes one)."""
    return Path.cwd() / "environments"


def known() -> list[str]:
    """The names of the project's environments and of those shipped with gameday."""
    return sorted({p.stem for directory in (project_directory(), DIRECTORY) for p in directory.glob("*.yaml")})


def resolve(name_or_path: str) -> Path:
    """Map ``--env`` to a file: a bare name means ./environments/<name>.yaml, else the bundled one.

    Raises EnvironmentFileError naming the value and the known environments.
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if not candidate.is_file():
            raise EnvironmentFileError(f"--env: no such file {name_or_path!r}")
        return candidate
    for directory in (project_directory(), DIRECTORY):
        path = directory / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    raise EnvironmentFileError(
        f"--env: no environments/{name_or_path}.yaml; known: {', '.join(known())}, or a path to a .yaml file"
    )


def load(name_or_path: str = "local") -> LocalEnvironment | AwsEnvironment:
    """Load and validate an environment. Raises EnvironmentFileError with every problem found."""
    path = resolve(name_or_path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise EnvironmentFileError(f"{path}: cannot read the environment file: {error.strerror}") from None
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise EnvironmentFileError(f"{path}: not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset "
                                   f"{error.start} (line {line}: {error.reason}); save the file as UTF-8") from None
    try:
        data = yamlfile.load(text)
    except yaml.YAMLError as error:
        raise EnvironmentFileError(f"{path}: not valid YAML: {error}") from None
    except yamlfile.DuplicateKeys as error:
        raise EnvironmentFileError("\n".join(f"{path}: {problem}" for problem in error.problems)) from None
    return parse(data, source=str(path))


def parse(data: object, source: str) -> LocalEnvironment | AwsEnvironment:
    if not isinstance(data, dict):
        raise EnvironmentFileError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    if "kind" not in data:
        raise EnvironmentFileError(f"{source}: kind: required but missing; allowed: 'local', 'aws'")
    if data["kind"] not in ("local", "aws"):
        raise EnvironmentFileError(f"{source}: kind: {data['kind']!r} is not allowed; allowed: 'local', 'aws'")
    try:
        environment = _ADAPTER.validate_python(data)
    except ValidationError as error:
        # A check that found several problems gives them one per line: each gets its own prefix.
        raise EnvironmentFileError("\n".join(_describe(source, dict(e, msg=line)) for e in error.errors()
                                             for line in e["msg"].split("\n"))) from None
    environment.loaded_from(source)
    return environment


def _describe(source: str, error: Any) -> str:
    # The first element of loc is the union tag ("local"/"aws"); the field path follows it.
    loc = [str(part) for part in error["loc"][1:]]
    field = ".".join(loc)
    message = error["msg"].removeprefix("Value error, ")
    if not field:  # whole-model checks already name their fields in the message
        return f"{source}: {message}"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{source}: {field}: unknown key; check its spelling against environments/aws-example.yaml"
    if kind == "missing":
        return f"{source}: {field}: required but missing"
    value = error.get("input")
    if kind.endswith("_type") or kind in ("literal_error", "greater_than", "greater_than_equal", "less_than_equal",
                                          "less_than", "string_pattern_mismatch", "too_short", "finite_number"):
        return f"{source}: {field}: {value!r} is not allowed: {message}"
    return f"{source}: {field}: {message}"
