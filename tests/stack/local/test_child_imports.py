"""The stack's child processes import what they run, not the environment model (pydantic) the supervisor reads.

Each of these runs as a process of its own for as long as the stack does; pydantic cost the warehouse
11 MiB of its 34 MiB, to read two port numbers from a module that also described the environment."""
from __future__ import annotations

import subprocess
import sys

import pytest

CHILD_ENTRY_POINTS = {
    "warehouse": "import stack.local.warehouse.__main__",
    "store": "import stack.local.stores.__main__",
    "fabric": "import stack.local.fabric.__main__",
    "checkout zygote": "from stack.local.ec2.checkout import zygote; zygote.preload()",
}


@pytest.mark.parametrize("child", sorted(CHILD_ENTRY_POINTS))
def test_a_child_process_does_not_load_pydantic(child: str) -> None:
    check = CHILD_ENTRY_POINTS[child] + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", f"{child} imports {run.stdout.strip()}"
