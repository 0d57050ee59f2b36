"""Evidence pack timings on a realistic synthetic run (4 scenarios, ~6,000 samples): build, validate, write, verify."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reports import document, evidence, history
from tests.reports import synthetic

GOALS = {"write_pack_s": 15.0, "verify_s": 5.0, "history_append_ms": 20.0}


def main() -> None:
    figures: dict[str, float] = {}
    started = time.monotonic()
    run = synthetic.run()
    figures["synthesise_s"] = time.monotonic() - started
    started = time.monotonic()
    built = document.build(run)
    figures["build_document_s"] = time.monotonic() - started
    started = time.monotonic()
    document.validate(built)
    figures["validate_s"] = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as root:
        out, hist = Path(root) / "out", Path(root) / "history.jsonl"
        started = time.monotonic()
        pack = evidence.write_pack(run, out, hist)
        figures["write_pack_s"] = time.monotonic() - started
        started = time.monotonic()
        assert evidence.verify(pack.directory).ok
        figures["verify_s"] = time.monotonic() - started
        sizes = {p.name: p.stat().st_size for p in pack.directory.iterdir()}
        record = json.loads(hist.read_text().splitlines()[-1])
        started = time.monotonic()
        for _ in range(100):
            history.append(hist, record)
        figures["history_append_ms"] = (time.monotonic() - started) * 1000 / 100
    samples = sum(len(s.dns) + len(s.checkout) + len(s.canary_attempts) for s in run.scenarios)
    print(json.dumps({"samples": samples, "bytes": sizes,
                      "figures": {k: round(v, 3) for k, v in figures.items()}, "goals": GOALS,
                      "met": {k: figures[k] <= GOALS[k] for k in GOALS}}, indent=2))


if __name__ == "__main__":
    main()
