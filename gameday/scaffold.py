"""`gameday init DIR`: a new project with one example experiment, its environments and pytest's settings.

The experiment and pytest.ini come from gameday/templates/ (package data). The environments are the
bundled ones at the time of init: local.yaml as it is, aws.yaml from the commented aws-example.yaml.
"""
from __future__ import annotations

from pathlib import Path

from base.errors import GamedayError
from environments import loader

TEMPLATES = Path(__file__).resolve().parent / "templates"

LOCAL_HEADER = """\
# This project's local environment: the local AWS-compatible stack, with SecureCart on it.
# A copy of the one bundled with gameday; `--env local` reads this file first. Edit the SLOs
# (slos.scenarios) to your objectives.
"""
AWS_HEADER = """\
# A real AWS account. Fill in every value, then check the plan first: `gameday run --env aws --dry-run`.
# docs/real-aws.md in gameday's repository explains each field and the IAM policy it needs.
"""


class DirectoryNotEmpty(GamedayError):
    """gameday init writes only into a new or empty directory."""


def files(markers: dict[str, str]) -> dict[str, str]:
    """What init writes: path relative to DIR -> content."""
    marker_lines = "\n".join(f"    {name}: {description}" for name, description in markers.items())
    aws = loader.DIRECTORY.joinpath("aws-example.yaml").read_text(encoding="utf-8")
    aws = aws.replace("name: aws-example", "name: aws", 1)
    written = {
        "pytest.ini": TEMPLATES.joinpath("pytest.ini").read_text(encoding="utf-8").replace("{markers}", marker_lines),
        "environments/local.yaml": LOCAL_HEADER + loader.DIRECTORY.joinpath("local.yaml").read_text(encoding="utf-8"),
        "environments/aws.yaml": AWS_HEADER + aws,
    }
    for template in sorted(TEMPLATES.joinpath("experiments").glob("test_*.py")):
        written[f"experiments/{template.name}"] = template.read_text(encoding="utf-8")
    return written


def init(directory: Path, markers: dict[str, str]) -> list[Path]:
    """Write the project into ``directory`` (created when missing); refuse one that is not empty."""
    if directory.exists() and not directory.is_dir():
        raise DirectoryNotEmpty(f"{directory} is a file, not a directory; give a new directory")
    if directory.is_dir():
        present = sorted(p.name + ("/" if p.is_dir() else "") for p in directory.iterdir())
        if present:
            planned = files(markers)
            clashes = [name for name in planned if (directory / name).exists()]
            what = (f"it would overwrite {', '.join(sorted(clashes))}" if clashes else
                    f"it holds {', '.join(present[:10])}{' and more' if len(present) > 10 else ''}")
            raise DirectoryNotEmpty(f"{directory} is not empty ({what}); give a new or empty directory")
    written = []
    for name, content in files(markers).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
