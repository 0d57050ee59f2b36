"""--env NAME: the project's ./environments/ first, then the bundled environments."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from base.errors import EnvironmentFileError
from environments import loader

BUNDLED_LOCAL = loader.DIRECTORY / "local.yaml"


def test_a_project_environment_shadows_the_bundled_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "environments").mkdir()
    mine = tmp_path / "environments" / "local.yaml"
    mine.write_text(BUNDLED_LOCAL.read_text().replace("time_scale: 0.1", "time_scale: 0.2"))
    staging = BUNDLED_LOCAL.read_text().replace("name: local", "name: staging", 1)
    (tmp_path / "environments" / "staging.yaml").write_text(staging)
    monkeypatch.chdir(tmp_path)
    assert loader.resolve("local") == Path("environments/local.yaml").absolute() == mine
    assert loader.load("local").time_scale == 0.2
    assert loader.load("staging").name == "staging"
    assert loader.resolve("aws-example") == loader.DIRECTORY / "aws-example.yaml"  # not in the project: bundled
    assert loader.known() == ["aws-example", "local", "staging"]


def test_without_a_project_the_bundled_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert loader.resolve("local") == BUNDLED_LOCAL
    with pytest.raises(EnvironmentFileError, match=r"--env: no environments/prod.yaml; known: aws-example, local, or a"):
        loader.resolve("prod")


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    text = BUNDLED_LOCAL.read_text()
    assert "\ntime_scale: 0.1\n" in text
    file = tmp_path / "twice.yaml"
    file.write_text(text + "time_scale: 1\n")  # before, the last one won silently
    first = text.split("\n").index("time_scale: 0.1") + 1
    last = len(text.split("\n"))
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(file))
    assert str(raised.value) == (f"{file}: time_scale: given twice (line {first} and line {last}); "
                                 "a key may appear once in a mapping")


def test_a_file_that_is_not_utf8_names_the_byte_and_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_bytes(b"kind: local\nname: caf\xe9\n")  # Latin-1, as an editor may save it
    with pytest.raises(EnvironmentFileError) as error:
        loader.load(str(path))
    assert str(error.value) == (f"{path}: not UTF-8 text: byte 0xe9 at offset 21 (line 2: invalid continuation "
                                "byte); save the file as UTF-8")


def test_a_cli_command_with_a_utf16_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_bytes(b"\xff\xfe")
    result = subprocess.run([sys.executable, "-m", "gameday.cli", "stack", "status", "--env", str(path)],
                            capture_output=True, text=True, cwd=Path(loader.__file__).parents[1], timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"gameday: {path}: not UTF-8 text: byte 0xff at offset 0 (line 1: invalid start byte); " \
                            "save the file as UTF-8\n"
