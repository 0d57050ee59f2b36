"""gameday as an installed tool: the pytest11 entry point, namespaced options, `gameday init`, `gameday run`.

The shared virtualenv may hold an install made before the entry point existed, so these tests put
a distribution's metadata built from pyproject.toml's own entry points on the path: what pip writes
into dist-info, and all importlib.metadata (and so pytest) reads.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from base import exitcodes
from gameday import scaffold
from gameday.fixtures import default_instance
from gameday.plugin import MARKERS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def instance(gameday_settings: Any) -> str:
    """This session's local stack instance (--gameday-instance / GAMEDAY_INSTANCE, else the worker's)."""
    return str(gameday_settings.instance if gameday_settings.instance is not None else default_instance())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, instance: str) -> dict[str, str]:
    """The environment of a process that sees gameday as installed: its entry points, no conftest."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    site = tmp_path_factory.mktemp("site")
    dist = site / "gameday_entry_points-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gameday-entry-points\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in declared.items()))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GAMEDAY_"))}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    environ["GAMEDAY_INSTANCE"] = instance  # never another session's stack
    return environ


def pytest_in(directory: Path, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=directory,
                          env=environ, capture_output=True, text=True, timeout=300, check=False)


def gameday_in(directory: Path, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameday.cli", *args], cwd=directory, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


# -- the entry point -----------------------------------------------------------------------------

def test_the_harness_needs_no_conftest(installed: dict[str, str], tmp_path: Path) -> None:
    """A test file alone, anywhere: the plugin, its fixtures and the scenario harness come from the entry point."""
    (tmp_path / "test_alone.py").write_text(
        "import pytest\n"
        "@pytest.mark.failover\n"
        "def test_cheap(environment, gameday_settings, timeline, gameday_guard):\n"
        "    assert environment.name == 'local' and timeline.scale == environment.timescale\n"
        "    assert gameday_guard.policy.dry_run is False\n"
        "def test_experiment(scenario): pass\n")
    assert not list(tmp_path.glob("conftest.py"))
    cheap = pytest_in(tmp_path, installed, "--strict-markers", "-k", "cheap")
    assert cheap.returncode == 0, cheap.stdout + cheap.stderr
    # The harness's whole chain resolves (planned, not run: building the stack takes a minute).
    plan = pytest_in(tmp_path, installed, "--setup-plan", "-k", "experiment")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for fixture in ("SETUP    S gameday_local_stack", "SETUP    S gameday_stack", "SETUP    S gameday_journal",
                    "SETUP    F gameday_evidence", "SETUP    F gameday_scenario", "SETUP    F scenario"):
        assert fixture in plan.stdout, plan.stdout


def test_a_conftest_naming_the_plugin_too_does_not_register_it_twice(installed: dict[str, str],
                                                                      tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["gameday.plugin", "gameday.evidence_plugin"]\n')
    (tmp_path / "test_one.py").write_text("def test_one(gameday_settings): pass\n")
    result = pytest_in(tmp_path, installed, "-p", "gameday.plugin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already registered" not in result.stdout + result.stderr


def test_pytester_is_not_loaded_for_users(installed: dict[str, str], tmp_path: Path) -> None:
    result = pytest_in(tmp_path, installed, "--help")
    assert "--runpytest" not in result.stdout and "--gameday-env" in result.stdout


def test_a_projects_own_fixture_does_not_change_what_the_harness_uses(installed: dict[str, str],
                                                                       tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("import pytest\n@pytest.fixture(scope='session')\n"
                                          "def environment(): return 'the project\\'s own'\n")
    (tmp_path / "test_one.py").write_text(
        "def test_one(environment, gameday_environment, timeline):\n"
        "    assert environment == \"the project's own\"\n"
        "    assert timeline.scale == gameday_environment.timescale and timeline.scale.factor == 0.1\n")
    result = pytest_in(tmp_path, installed)
    assert result.returncode == 0, result.stdout + result.stderr


# -- options: namespaced, with the README's short aliases; bool ini keys --------------------------

SHOW = ("def test_show(gameday_settings):\n"
        "    s = gameday_settings\n"
        "    print('SETTINGS', s.env, s.dry_run, s.keep_stack, s.build, s.sources['dry_run'], s.sources['keep_stack'])\n")


@pytest.mark.parametrize("args,expected", [
    (("--gameday-env", "aws-example", "--gameday-dry-run", "--gameday-keep-stack", "--gameday-build-stack"),
     "SETTINGS aws-example True True True option option"),
    (("--env", "aws-example", "--dry-run", "--keep-stack", "--build-stack"),
     "SETTINGS aws-example True True True option option"),
    ((), "SETTINGS local False False False default default"),
])
def test_option_aliases(pytester: pytest.Pytester, args: tuple[str, ...], expected: str) -> None:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    pytester.makepyfile(SHOW)
    result = pytester.runpytest("-s", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{expected}"])


def test_bool_ini_keys_are_typed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    pytester.makeini("[pytest]\ngameday_dry_run = yes\ngameday_keep_stack = false\n")
    pytester.makepyfile(SHOW)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    # false set in the file is the ini's value, not "unset"
    result.stdout.fnmatch_lines(["*SETTINGS local True False False ini ini"])


def test_a_bad_bool_ini_value_names_the_key(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin"]\n')
    pytester.makeini("[pytest]\ngameday_dry_run = maybe\ngameday_instance = 42\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # Both problems at once, each naming the ini file (not the option or variable nobody set).
    result.stderr.fnmatch_lines(["*tox.ini: gameday_dry_run: invalid truth value 'maybe'; use true or false",
                                 "*tox.ini: gameday_instance: '42' is not allowed; use an integer from 0 to 9"])


# -- gameday init ------------------------------------------------------------------------------

def test_init_writes_a_project(tmp_path: Path) -> None:
    project = tmp_path / "myday"
    written = scaffold.init(project, MARKERS)
    assert sorted(p.relative_to(project).as_posix() for p in written) == [
        "environments/aws.yaml", "environments/local.yaml", "experiments/test_orders_database_failover.py",
        "pytest.ini"]
    experiment = (project / "experiments" / "test_orders_database_failover.py").read_text()
    assert "from gameday import" in experiment and "experiments.scenario" not in experiment
    assert "@pytest.mark.gameday" in experiment and "@pytest.mark.failover" in experiment
    ini = (project / "pytest.ini").read_text()
    for name in MARKERS:
        assert f"\n    {name}: " in ini, name
    from environments import loader

    assert loader.load(str(project / "environments" / "local.yaml")).name == "local"
    aws = loader.load(str(project / "environments" / "aws.yaml"))
    assert aws.name == "aws" and (project / "environments" / "aws.yaml").read_text().count("\n#") > 10


def test_the_scaffold_collects_with_the_installed_plugin(installed: dict[str, str], tmp_path: Path) -> None:
    result = gameday_in(tmp_path, installed, "init", "myday")
    assert result.returncode == 0, result.stderr
    assert "cd myday && gameday run" in result.stdout
    collected = pytest_in(tmp_path / "myday", installed, "-m", "failover", "--collect-only", "-q")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "experiments/test_orders_database_failover.py::test_orders_survive_a_database_failover" in collected.stdout
    markers = pytest_in(tmp_path / "myday", installed, "--markers").stdout
    assert markers.count("@pytest.mark.failover:") == 1, "pytest.ini's markers are not registered twice"


def test_init_refuses_a_non_empty_directory_naming_what_it_would_overwrite(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "local.yaml").write_text("mine\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run([sys.executable, "-m", "gameday.cli", "init", str(tmp_path)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60, check=False)
    assert result.returncode == exitcodes.USAGE
    assert result.stderr.strip() == (f"gameday: {tmp_path} is not empty (it would overwrite environments/local.yaml, "
                                     f"pytest.ini); give a new or empty directory")
    assert (tmp_path / "environments" / "local.yaml").read_text() == "mine\n"
    assert not (tmp_path / "experiments").exists()


def test_init_refuses_a_directory_with_other_files_naming_them(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(scaffold.DirectoryNotEmpty, match=r"is not empty \(it holds notes.txt\)"):
        scaffold.init(tmp_path, MARKERS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]



def _init_with_file_size_limit(directory: Path, limit_bytes: int) -> subprocess.CompletedProcess[str]:
    """`gameday init` under `ulimit -f`: writing past the limit fails with EFBIG, as on a full disk."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run([sys.executable, "-m", "gameday.cli", "init", str(directory)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False, preexec_fn=limit,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.parametrize("existing", [False, True], ids=["new directory", "empty directory"])
def test_init_that_cannot_write_leaves_nothing_behind(existing: bool, tmp_path: Path) -> None:
    project = tmp_path / "myday"
    if existing:
        project.mkdir()
    result = _init_with_file_size_limit(project, 2048)  # pytest.ini fits; environments/local.yaml does not
    assert result.returncode == exitcodes.USAGE, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"gameday: cannot write {project}/environments/local.yaml: File too large; "
                                     "init wrote nothing (run it again once that is fixed)")
    assert [p.name for p in tmp_path.iterdir()] == (["myday"] if existing else [])  # no staging directory either
    assert not existing or list(project.iterdir()) == []
    assert _init_with_file_size_limit(project, 1 << 30).returncode == exitcodes.OK  # not "is not empty"


def test_init_under_a_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = subprocess.run([sys.executable, "-m", "gameday.cli", "init", str(tmp_path / "afile" / "sub")],
                            capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert result.returncode == exitcodes.USAGE
    assert result.stderr.strip() == (f"gameday: {tmp_path}/afile/sub: {tmp_path}/afile is a file, not a directory; "
                                     "give a new directory")


def test_init_makes_missing_parents(tmp_path: Path) -> None:
    written = scaffold.init(tmp_path / "a" / "b" / "myday", MARKERS)
    assert (tmp_path / "a" / "b" / "myday" / "pytest.ini") in written
    assert [p.name for p in tmp_path.iterdir()] == ["a"]

# -- gameday run -------------------------------------------------------------------------------

def test_run_outside_a_project_says_how_to_make_one(installed: dict[str, str], tmp_path: Path) -> None:
    result = gameday_in(tmp_path, installed, "run")
    assert result.returncode == exitcodes.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{tmp_path} is not a gameday project" in lines[0] and "`gameday init DIR`" in lines[0]


SUBMITS = '''
import pytest
from tests.reports import synthetic

@pytest.mark.gameday
def test_submits(evidence):
    evidence.submit(synthetic.multi_az_failover())
'''


def test_run_in_a_project_writes_its_reports_there(installed: dict[str, str], instance: str, tmp_path: Path) -> None:
    """The project's experiments, its environments, its reports/: not this repository's, not the package's."""
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "test_submit.py").write_text(SUBMITS)
    (tmp_path / "environments").mkdir()
    local = (ROOT / "environments" / "local.yaml").read_text()
    (tmp_path / "environments" / "mine.yaml").write_text(local.replace("name: local", "name: mine", 1))
    packs_before = set((ROOT / "reports" / "out").glob("*"))
    result = gameday_in(tmp_path, installed, "run", "--env", "mine", "--instance", instance)
    assert result.returncode == 0, result.stdout + result.stderr
    packs = [p for p in (tmp_path / "reports" / "out").iterdir() if (p / "report.html").is_file()]
    assert len(packs) == 1, list((tmp_path / "reports" / "out").iterdir())
    assert (tmp_path / "reports" / "history.jsonl").is_file()
    document = json.loads((packs[0] / "evidence.json").read_text())
    assert document["run"]["environment"]["name"] == "mine", "--env NAME is looked up in ./environments/ first"
    assert set((ROOT / "reports" / "out").glob("*")) == packs_before


@pytest.mark.slow
def test_the_example_experiment_passes_on_the_local_stack(installed: dict[str, str], instance: str,
                                                          tmp_path: Path) -> None:
    """The issue's "done when": `gameday init myday && cd myday && gameday run` passes, the report in myday."""
    assert gameday_in(tmp_path, installed, "init", "myday").returncode == 0
    result = gameday_in(tmp_path / "myday", installed, "run", "--instance", instance)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "PASSED  1 of 1 scenarios passed" in result.stdout
    assert len(list((tmp_path / "myday" / "reports" / "out").glob("*/report.html"))) == 1


def test_run_in_a_project_without_experiments_yet(installed: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "experiments").mkdir()
    result = gameday_in(tmp_path, installed, "run")
    assert result.returncode == 0 and "no experiments yet" in result.stdout, result.stdout + result.stderr


# -- the public API ----------------------------------------------------------------------------

def test_the_public_api_is_importable_from_gameday() -> None:
    import gameday

    assert sorted(gameday.__all__) == sorted(gameday._EXPORTS)
    for name in gameday.__all__:
        assert getattr(gameday, name) is not None, name
    from gameday import RebootWithFailover, Scenario, db_state  # noqa: F401  (what the scaffold's example uses)

    with pytest.raises(AttributeError, match="the public API: AwsEnvironment"):
        gameday.NoSuchThing  # noqa: B018
