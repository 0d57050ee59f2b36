"""The child process that runs a load plan with Locust: ``python -m probes.load.child PLAN RESULT``.

It records every request (start offset, status, latency, source address) per crowd and writes them as JSON to
RESULT when the plan's duration is over. Status 0 is a request that got no HTTP answer
(connection refused or timed out, name not resolved).
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything else imports socket or ssl

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust.env import Environment  # noqa: E402

from probes.load.plan import LoadPlan  # noqa: E402
from probes.load.users import user_classes  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m probes.load.child PLAN.json RESULT.json", file=sys.stderr)
        return 2
    plan = LoadPlan.from_json(Path(argv[1]).read_text())
    records: dict[str, list[tuple[float, int, float, str]]] = {crowd.name: [] for crowd in plan.crowds}
    # At the end, requests in flight finish (bounded by their timeouts) and are recorded, rather than dropped.
    environment = Environment(user_classes=list(user_classes(plan)), stop_timeout=plan.connect_timeout_s + plan.read_timeout_s)
    started = time.time()

    def on_request(request_type: str, name: str, response_time: float, response_length: int, response: Any = None,
                   context: Any = None, exception: Any = None, start_time: float | None = None, **_: Any) -> None:
        crowd, source = (context or {}).get("crowd"), (context or {}).get("source") or ""
        if crowd in records:
            status = int(getattr(response, "status_code", 0) or 0)  # Locust answers a failed connection with 0
            records[crowd].append((round((start_time or time.time()) - started, 4), status, round(response_time, 2), source))

    environment.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    runner = environment.create_local_runner()
    total = sum(crowd.users for crowd in plan.crowds)
    runner.start(total, spawn_rate=max(total, 1))
    gevent.spawn_later(plan.duration_s, runner.quit)
    runner.greenlet.join()
    Path(argv[2]).write_text(json.dumps({"started_at": started, "duration_s": plan.duration_s, "labels": plan.labels,
                                         "crowds": records}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
