"""What survives a full collection is frozen, so the next full pass walks only what is newer."""
from __future__ import annotations

import json
import subprocess
import sys

# In a fresh interpreter: freezing changes the whole process's collector.
SCRIPT = r'''
import gc, json
from stack.local import longlived
gc.collect(); gc.freeze()
longlived.freeze_after_full_collections()
longlived.freeze_after_full_collections()  # idempotent
before = gc.get_freeze_count()
kept = [{"n": [n]} for n in range(50_000)]  # a dict of only atoms is not tracked at all
gc.collect()  # a full pass: what survived it is frozen (if no pass came during the loop already)
frozen = gc.get_freeze_count()
class Node: pass
a, b = Node(), Node(); a.b, b.a = b, a
del a, b
collected = gc.collect()  # a young cycle is still collected
longlived.stop_freezing()
print(json.dumps({"before": before, "frozen": frozen, "collected": collected, "callbacks": longlived.freezing(),
                  "kept": len(kept)}))
'''


def test_survivors_of_a_full_collection_are_frozen_and_young_cycles_still_collected() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["frozen"] >= seen["before"] + 50_000, seen
    assert seen["collected"] >= 2, seen
    assert seen["callbacks"] is False
