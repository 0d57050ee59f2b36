"""history.jsonl: appended atomically by concurrent runs; trends as a table and as charts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from base import exitcodes
from gameday import cli
from reports import history
from tests.reports.conftest import only_pack

WRITERS, RECORDS_EACH, PAD_BYTES = 6, 40, 20_000  # lines far larger than PIPE_BUF, so only the lock keeps them whole

WRITER = """
import sys
from pathlib import Path
import pytest

from base import exitcodes
from gameday import cli
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


@pytest.mark.parametrize("last", ["0", "-1", "two"])
def test_report_last_must_be_one_or_more(last: str, pack_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:  # --last 0 listed every run, --last -1 all but the oldest
        cli.main(["report", "--history", "--history-file", str(pack_root / "history.jsonl"), "--last", last])
    assert refused.value.code == exitcodes.USAGE
    assert f"argument --last: '{last}' is not allowed; use a whole number of runs, 1 or more" in capsys.readouterr().err


def test_report_of_a_history_file_that_is_not_there_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--history", "--history-file", str(tmp_path / "nosuch.jsonl")]) == exitcodes.USAGE
    assert f"--history-file {tmp_path}/nosuch.jsonl: no such file" in capsys.readouterr().err
    assert cli.main(["report", "--history", "--history-file", str(tmp_path)]) == exitcodes.USAGE
    captured = capsys.readouterr()
    assert f"{tmp_path}: cannot read the history file: Is a directory" in captured.err and captured.out == ""
    monkeypatch.chdir(tmp_path)  # a project before its first run: the default file need not exist yet
    for default in ([], ["--history-file", "reports/history.jsonl"]):
        assert cli.main(["report", "--history", *default]) == exitcodes.OK
        assert "no runs recorded in reports/history.jsonl yet" in capsys.readouterr().out


def test_a_record_without_its_keys_is_named_with_its_line_and_skipped(tmp_path: Path, pack_root: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.jsonl"
    good = (pack_root / "history.jsonl").read_text()
    scenario_without_passed = json.loads(good)
    del scenario_without_passed["scenarios"][1]["passed"]
    path.write_text(good + '{"schema":"gameday-history-v1"}\n' + json.dumps(scenario_without_passed) + "\n")
    assert history.read(path).problems == (
        f"{path}:2: a gameday-history-v1 record without run_id, environment, account_id, commit, dirty, scenarios; "
        "skipped", f"{path}:3: a gameday-history-v1 record without scenarios[1].passed; skipped")
    assert cli.main(["report", "--history", "--history-file", str(path)]) == exitcodes.OK  # was a KeyError traceback
    out = capsys.readouterr().out
    assert only_pack(pack_root / "out").name in out and "warning: " in out


@pytest.mark.parametrize("html", ["nodir/x.html", "."])
def test_report_checks_its_html_file_before_printing_anything(html: str, tmp_path: Path, pack_root: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    destination = tmp_path / html
    assert cli.main(["report", "--history", "--history-file", str(pack_root / "history.jsonl"),
                     "--html", str(destination)]) == exitcodes.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""  # before, the table, then a traceback
    assert captured.err.startswith(f"gameday: --html {destination}: ")
    assert ("its directory" in captured.err and "does not exist" in captured.err) or "is a directory" in captured.err
