"""A deliberately violated SLO fails the experiment with a message that says what happened.

Lab 3 runs for real (its own local stack, instance 5) with an environment whose Multi-AZ RTO SLO
is 10 s: RDS's failover alone takes 60-120 AWS-s, so the verdict must be a breach, named in the
pytest output and in the evidence pack, and the stack must be gone afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from environments import loader
from stack.local import supervisor
from stack.local.instance import Instance

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 5  # no other test or benchmark uses it
SLO_LINE = "multi_az_failover: {rto_s: 180, rpo_s: 0, lost_orders: 0}"

pytestmark = pytest.mark.slow


def test_a_violated_rto_slo_fails_lab3_and_says_what_happened(tmp_path: Path) -> None:
    text = (ROOT / "environments" / "local.yaml").read_text()
    assert SLO_LINE in text, "environments/local.yaml changed: update SLO_LINE"
    tight = tmp_path / "tight.yaml"
    tight.write_text(text.replace(SLO_LINE, "multi_az_failover: {rto_s: 10, rpo_s: 0, lost_orders: 0}"))
    # A clean pytest of its own: not an xdist worker, no settings from this session's environment.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GAMEDAY_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "experiments/test_lab3_multi_az_rds.py", "--env", str(tight),
         "--gameday-instance", str(INSTANCE), "--gameday-evidence-dir", str(tmp_path / "out"), "-p", "no:cacheprovider",
         "-q", "--color=no"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "AssertionError: RTO" in output and "> 10 s SLO: orders from virginia failed from" in output, output[-3000:]
    pack = next((tmp_path / "out").glob("*/evidence.json"))
    scenario = json.loads(pack.read_text())["scenarios"][0]
    assert scenario["outcome"] == "slo_breached" and scenario["rollback"]["status"] == "rolled back"
    assert scenario["verdict"]["rto"]["aws_s"] > 10 and scenario["verdict"]["slo"]["rto_s"] == 10
    assert supervisor.running_pid(Instance(INSTANCE, loader.load("local"))) is None, "the experiment left its stack up"
