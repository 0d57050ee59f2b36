"""The evidence pack and ``verify``: an intact chain passes, and every kind of tampering is named."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reports import evidence, history, manifest
from reports.run import Run
from tests.reports import synthetic
from tests.reports.conftest import only_pack


def _second_pack(reports_dir: Path, synthetic_run: Run) -> evidence.Pack:
    # a later run (cheap: one scenario) chained to the first
    later = synthetic.run(scenarios=(synthetic.broken_region_evacuation(),), run_id="20991231T235959Z-abcdef")
    return evidence.write_pack(later, reports_dir / "out", reports_dir / "history.jsonl")


def test_a_pack_holds_every_file_and_sha256sum_accepts_its_manifest(pack_root: Path) -> None:
    pack = only_pack(pack_root / "out")
    assert sorted(p.name for p in pack.iterdir()) == ["MANIFEST.sha256", "evidence.json", "junit.xml", "report.html"]
    check = subprocess.run(["sha256sum", "--strict", "-c", manifest.NAME], cwd=pack, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result = evidence.verify(pack)
    assert result.ok, result.message
    assert f"{pack.name} is the first pack of its chain" in result.notes
    assert any("manifest matches history.jsonl" in n for n in result.notes)


def test_the_next_pack_chains_to_the_previous_one(reports_dir: Path, synthetic_run: Run) -> None:
    first = only_pack(reports_dir / "out")
    second = _second_pack(reports_dir, synthetic_run)
    assert second.previous_run_id == first.name
    assert f"  ../{first.name}/{manifest.NAME}" in (second.directory / manifest.NAME).read_text()
    result = evidence.verify(second.directory)
    assert result.ok, result.message
    assert result.packs_checked == (second.directory.name, first.name)
    records = history.read(reports_dir / "history.jsonl").records
    assert [r["run_id"] for r in records] == [first.name, second.directory.name]
    assert records[-1]["previous_run_id"] == first.name


def test_one_changed_byte_names_the_file(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    target = pack / "report.html"
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0x01
    target.write_bytes(bytes(content))
    result = evidence.verify(pack)
    assert not result.ok
    assert len(result.problems) == 1 and "changed: report.html" in result.problems[0], result.message


def test_a_deleted_file_is_named(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    (pack / "junit.xml").unlink()
    result = evidence.verify(pack)
    assert [p for p in result.problems if "deleted: junit.xml" in p], result.message


def test_an_added_file_is_named(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    (pack / "notes.txt").write_text("added later\n")
    result = evidence.verify(pack)
    assert [p for p in result.problems if "extra file: notes.txt" in p], result.message


def test_a_deleted_manifest_is_named(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    (pack / manifest.NAME).unlink()
    result = evidence.verify(pack)
    assert not result.ok and "MANIFEST.sha256 is missing" in result.message


def test_a_rewritten_earlier_pack_breaks_the_chain(reports_dir: Path, synthetic_run: Run) -> None:
    first = only_pack(reports_dir / "out")
    second = _second_pack(reports_dir, synthetic_run)
    # cover the tracks in the first pack: change its evidence and recompute its own manifest
    evidence_path = first / "evidence.json"
    document = json.loads(evidence_path.read_text())
    document["scenarios"][0]["verdict"]["rto"]["aws_s"] = 1.0  # a better RTO, and consistent with itself
    evidence_path.write_text(json.dumps(document))
    manifest.write(first, None)
    assert evidence.verify(first, history_path=reports_dir / "nowhere.jsonl").ok  # alone it looks fine...
    result = evidence.verify(second.directory)  # ...but the chain and the history both give it away
    assert not result.ok
    assert [p for p in result.problems if p.startswith(f"broken chain: {second.directory.name} records {first.name}")]
    assert evidence.verify(first).problems[0].startswith(f"{first.name}: MANIFEST.sha256 has sha256")


def test_a_rewritten_newest_manifest_is_caught_by_history(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    (pack / "junit.xml").write_text("<testsuites/>\n")
    manifest.write(pack, None)  # consistent with itself again
    result = evidence.verify(pack)
    assert not result.ok and "history.jsonl recorded" in result.message


def test_a_missing_previous_pack_is_noted_not_hidden(reports_dir: Path, synthetic_run: Run) -> None:
    first = only_pack(reports_dir / "out")
    second = _second_pack(reports_dir, synthetic_run)
    for path in first.iterdir():
        path.unlink()
    first.rmdir()
    result = evidence.verify(second.directory)
    assert result.ok
    assert any(f"previous pack {first.name} is not here" in n for n in result.notes)


def test_a_pack_is_never_overwritten(reports_dir: Path, synthetic_run: Run) -> None:
    with pytest.raises(evidence.EvidenceError, match="exists already"):
        evidence.write_pack(synthetic_run, reports_dir / "out", reports_dir / "history.jsonl")


def test_verify_message_is_for_people(reports_dir: Path) -> None:
    pack = only_pack(reports_dir / "out")
    (pack / "evidence.json").write_text("{}")
    message = evidence.verify(pack).message
    assert message.startswith(f"TAMPERED: {pack}: ") and "changed: evidence.json" in message


@pytest.mark.parametrize("history_file", ["nohist.jsonl", "."])
def test_a_named_history_file_that_cannot_be_read_is_a_usage_error(history_file: str, pack_root: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A typo (or a directory) after --history must not pass as a pack without history: it printed OK before."""
    from base import exitcodes
    from gameday import cli

    named = tmp_path / history_file
    assert cli.main(["verify", "--history", str(named), str(only_pack(pack_root / "out"))]) == exitcodes.USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and f"gameday: --history {named}: cannot read it: " in captured.err


def test_a_history_line_verify_cannot_use_is_named(reports_dir: Path) -> None:
    path = reports_dir / "history.jsonl"
    record = json.loads(path.read_text())
    del record["commit"]
    path.write_text(json.dumps(record) + "\n")
    result = evidence.verify(only_pack(reports_dir / "out"))
    assert f"{path}:1: a gameday-history-v1 record without commit; skipped" in result.warnings, result.message
