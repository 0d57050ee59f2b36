"""slos.scenarios: a misspelt name of one of gameday's scenarios is refused at load; a name of one's own is not;
an experiment that judges a scenario the file does not give says which file, which key, and what the file gives."""
from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from base import clock
from base.errors import EnvironmentFileError
from base.timeline import Timeline
from environments import loader, scenarios
from experiments.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
LOCAL = yaml.safe_load((loader.DIRECTORY / "local.yaml").read_text())


def _write(tmp_path: Path, scenarios_given: dict[str, Any]) -> Path:
    data = copy.deepcopy(LOCAL)
    data["slos"]["scenarios"] = scenarios_given
    file = tmp_path / "env.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def test_a_misspelt_scenario_is_refused_at_load_naming_what_was_meant(tmp_path: Path) -> None:
    given = dict(LOCAL["slos"]["scenarios"])
    given["multi_az_failvoer"] = given.pop("multi_az_failover")  # before: loaded, and judge() raised KeyError
    given["az_otuage"] = given.pop("az_outage")
    file = _write(tmp_path, given)
    with pytest.raises(EnvironmentFileError) as raised:
        loader.load(str(file))
    lines = str(raised.value).splitlines()
    assert lines == [
        f"{file}: slos.scenarios: 'az_otuage' is not a scenario gameday's experiments judge; did you mean 'az_outage'? "
        f"(they judge {', '.join(scenarios.BUNDLED)}; a scenario of your own experiments may have any name that is "
        "not a near miss of these)",
        f"{file}: slos.scenarios: 'multi_az_failvoer' is not a scenario gameday's experiments judge; did you mean "
        f"'multi_az_failover'? (they judge {', '.join(scenarios.BUNDLED)}; a scenario of your own experiments may "
        "have any name that is not a near miss of these)"]


def test_a_scenario_of_ones_own_loads(tmp_path: Path) -> None:
    given = dict(LOCAL["slos"]["scenarios"], payments_drill={"rto_s": 60}, az_outage_2={"rto_s": 300})
    env = loader.load(str(_write(tmp_path, given)))
    assert env.slos.scenarios["payments_drill"].rto_s == 60
    assert env.slos.scenarios["az_outage_2"].rto_s == 300  # beside az_outage: a name of its own, not a typo
    assert env.source == str(tmp_path / "env.yaml")


def test_judging_a_scenario_the_file_does_not_give_names_the_file_the_key_and_what_it_gives(tmp_path: Path) -> None:
    given = {"multi_az_failover_drill": {"rto_s": 180}, "route53_failover": {"rto_s": 150}}
    file = _write(tmp_path, given)
    timeline = Timeline("t")
    scenario = Scenario("s", loader.load(str(file)), None, None, ("127.0.0.1", 53), None, timeline)  # type: ignore[arg-type]
    scenario.injected_at = clock.now()
    with pytest.raises(EnvironmentFileError) as raised:  # before: KeyError: 'multi_az_failover', after the fault
        scenario.judge("multi_az_failover", samples=[])
    assert str(raised.value) == (
        f"{file}: slos.scenarios.multi_az_failover: missing; this experiment judges scenario 'multi_az_failover' "
        "against it. The file gives: multi_az_failover_drill, route53_failover. Add slos.scenarios.multi_az_failover "
        "with rto_s (and rpo_s, lost_orders as needed)")
    assert scenario.verdict is None and len(timeline) == 0


def test_the_misspelling_hint_at_judge_time() -> None:
    message = scenarios.objective_missing("az_outage", ["az_otuage"], "")
    assert message.startswith("the environment file: slos.scenarios.az_outage: missing")
    assert "The file gives: az_otuage (is az_otuage a misspelling of it?)" in message


def test_near_misses_are_typos_and_other_names_are_not() -> None:
    assert scenarios.distance("multi_az_failvoer", "multi_az_failover") == 1  # two letters swapped
    assert scenarios.distance("az_outage", "az_outage") == 0
    assert scenarios.nearest("regoin_evacuation", scenarios.BUNDLED) == "region_evacuation"
    assert scenarios.nearest("store_offline_nyc", scenarios.BUNDLED) is None
    assert scenarios.misspelt(["az_outage", "az_outage2"]) == []  # the file gives az_outage: az_outage2 is meant


def _judged_names(path: Path) -> set[str]:
    """The names an experiment file looks up under slos.scenarios: ``judge("x")``, ``slos.scenarios["x"]``,
    ``slos.scenarios.get("x")``, with a module constant in place of the literal where the file uses one."""
    tree = ast.parse(path.read_text())
    constants = {target.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}

    def name(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return constants.get(node.id) if isinstance(node, ast.Name) else None

    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args and (
                node.func.attr == "judge" or node.func.attr == "get" and ast.unparse(node.func.value).endswith("scenarios")):
            found.add(name(node.args[0]))
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith(("slos.scenarios", "objectives")):
            found.add(name(node.slice))
    return {n for n in found if n is not None}


def test_the_list_is_the_names_the_bundled_experiments_judge() -> None:
    judged: set[str] = set()
    for path in sorted((ROOT / "experiments").glob("test_*.py")):
        judged |= _judged_names(path)
    judged.add("chaos_schedules")  # experiments/chaos/local.py judges it by the name test_chaos_schedules gives
    assert "chaos_schedules" in (ROOT / "experiments" / "test_chaos_schedules.py").read_text()
    assert judged == set(scenarios.BUNDLED)
    template = ROOT / "gameday" / "templates" / "experiments" / "test_orders_database_failover.py"
    assert _judged_names(template) <= set(scenarios.BUNDLED)
    assert set(LOCAL["slos"]["scenarios"]) <= set(scenarios.BUNDLED)
