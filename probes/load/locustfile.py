"""Locust's own entry point for a load plan: ``GAMEDAY_LOAD_PLAN=plan.json locust -f probes/load/locustfile.py``.

The same user classes as the child process (users.py). On a real account run it in Locust's
distributed mode, one master and many workers, each given the same plan (docs/load.md).
"""
from __future__ import annotations

import os
from pathlib import Path

from probes.load.plan import LoadPlan
from probes.load.users import user_classes

_PLAN = os.environ.get("GAMEDAY_LOAD_PLAN")
if not _PLAN:
    raise SystemExit("GAMEDAY_LOAD_PLAN is not set: give the path of a load plan (JSON, see probes/load/plan.py)")
for _user in user_classes(LoadPlan.from_json(Path(_PLAN).read_text())):
    globals()[_user.__name__] = _user
