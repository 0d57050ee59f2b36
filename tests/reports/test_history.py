"""history.jsonl: appended atomically by concurrent runs; trends as a table and as charts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reports import history
from tests.reports.conftest import only_pack

WRITERS, RECORDS_EACH, PAD_BYTES = 6, 40, 20_000  # lines far larger than PIPE_BUF, so only the lock keeps them whole

WRITER = """
import sys
from pathlib import Path
from reports import history
path, writer, count, pad = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for n in range(count):
    history.append(path, {"schema": history.RECORD_SCHEMA, "writer": writer, "n": n,
                          "pad": chr(65 + writer) * pad, "scenarios": []})
"""


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), str(RECORDS_EACH), str(PAD_BYTES)],
                                cwd=Path(__file__).resolve().parents[2]) for w in range(WRITERS)]
    try:
        codes = [w.wait(timeout=120) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert codes == [0] * WRITERS
    lines = path.read_text().splitlines()
    assert len(lines) == WRITERS * RECORDS_EACH
    seen = set()
    for line in lines:
        record = json.loads(line)  # a torn or interleaved line would not parse
        assert record["pad"] == chr(65 + record["writer"]) * PAD_BYTES
        seen.add((record["writer"], record["n"]))
    assert len(seen) == WRITERS * RECORDS_EACH
    for writer in range(WRITERS):  # each writer's own records stay in order
        ns = [json.loads(line)["n"] for line in lines if json.loads(line)["writer"] == writer]
        assert ns == sorted(ns)


def test_a_torn_last_line_is_skipped_and_named(tmp_path: Path, pack_root: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text((pack_root / "history.jsonl").read_text() + '{"schema": "gameday-hist')
    read = history.read(path)
    assert len(read.records) == 1
    assert read.problems == (f"{path}:2: not JSON (Unterminated string starting at); skipped",)


def test_trend_table_is_plain_text_when_piped(pack_root: Path) -> None:
    text = history.render_text(pack_root / "history.jsonl", color=False)
    assert "\x1b[" not in text
    run_id = only_pack(pack_root / "out").name
    assert "az_outage" in text and run_id in text and "slo breached" in text
    coloured = history.render_text(pack_root / "history.jsonl", color=True)
    assert "\x1b[" in coloured


def test_trend_page_has_a_chart_per_scenario(pack_root: Path) -> None:
    page = history.render_html(pack_root / "history.jsonl")
    assert page.count("<svg") == 4  # route53_failover, multi_az_failover, az_outage, region_evacuation


def test_no_history_yet(tmp_path: Path) -> None:
    assert "no runs recorded" in history.render_text(tmp_path / "missing.jsonl", color=False)
