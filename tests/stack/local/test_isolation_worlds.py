"""The RDS and DynamoDB isolation worlds fail, never skip, when the fabric does not start.

The fabric needs neither root nor nft (its kernel path is optional: firewall.py), so the only things
that may skip those tests are named prerequisites such as PostgreSQL. Each world is run in a pytest of
its own with a plugin that makes FabricPart.start fail as a broken fabric would.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack.local.rds import runner
from tests.conftest import lifecycle_instance

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # a pytest of its own per world, with moto: about 15 s each
BROKEN = "the fabric process exited at once (broken on purpose)"
PLUGIN = f'''
from stack.local.fabric.errors import FabricError
from stack.local.fabric.part import FabricPart


def _start(self, context):
    raise FabricError({BROKEN!r})


FabricPart.start = _start
'''


@pytest.mark.parametrize("node", [
    pytest.param("tests/stack/local/dynamodb/test_isolation.py::test_isolating_a_region_by_nacl_does_not_stop_replication",
                 id="dynamodb"),
    pytest.param("tests/stack/local/rds/test_isolation.py::test_force_failover_to_a_cut_off_standby_is_refused", id="rds",
                 marks=pytest.mark.skipif(not (runner.PG_BIN / "postgres").exists(),
                                          reason=f"Debian's PostgreSQL 15 is not installed at {runner.PG_BIN}")),
])
def test_a_fabric_that_does_not_start_is_an_error_not_a_skip(node: str, tmp_path: Path) -> None:
    (tmp_path / "broken_fabric.py").write_text(PLUGIN)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GAMEDAY_"))}
    environ["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    environ["GAMEDAY_INSTANCE"] = str(lifecycle_instance())  # this worker's own addresses, as the worlds take them
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "broken_fabric", "-q",
                             "-rs", "--color=no", node], cwd=ROOT, env=environ, capture_output=True, text=True,
                            timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "1 error" in output and "skipped" not in output and BROKEN in output, output[-3000:]
