"""A failing chaos schedule is kept, replayed first by the next run, and dropped once it passes.

Runs the library's machine on the in-memory SecureCart (``SimulatedRig``) with an example database in
a temporary directory: seconds, no stack.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from experiments.chaos import replay
from experiments.chaos.machine import explain, run
from experiments.chaos.simulated import SimulatedRig

FAST = settings(max_examples=200, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck))
SHRUNK = ["isolate_az(az='us-east-1a')", "wait(aws_s=60)"]  # the smallest schedule that shows stale DNS


class RecordingRig(SimulatedRig):
    """SimulatedRig remembering the steps of every schedule it ran, in order."""

    def __init__(self, bug: str = "") -> None:
        self.schedules: list[list[str]] = []
        super().__init__(bug)
        self.schedules.clear()  # the constructor's own begin() is no schedule

    def begin(self) -> None:
        super().begin()
        self.schedules.append([])

    def note(self, text: str) -> None:
        super().note(text)
        if text.startswith("schedule step: ") and not text.startswith("schedule step: teardown"):
            self.schedules[-1].append(text.removeprefix("schedule step: "))


def kept(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_failing_schedule_is_kept_and_replayed_first_then_dropped_once_fixed(tmp_path: Path) -> None:
    first = RecordingRig("stale_dns")
    with pytest.raises(AssertionError) as failure:
        run(first, "stale_dns", FAST, examples=tmp_path)
    assert SHRUNK == [line.strip().removeprefix("state.") for line in failure.value.__notes__
                      if line.strip().startswith(("state.isolate", "state.wait"))], failure.value.__notes__
    assert first.schedules[0] and first.schedules[0] != SHRUNK  # the first run found it by generating schedules
    assert kept(tmp_path / "stale_dns"), "the failing schedule was not saved"
    assert f"kept in {tmp_path / 'stale_dns'}" in explain(failure.value, saved_in=tmp_path / "stale_dns")

    again = RecordingRig("stale_dns")
    with pytest.raises(AssertionError):
        run(again, "stale_dns", FAST, examples=tmp_path)
    assert again.schedules[0] == SHRUNK, again.schedules[:3]  # replayed before anything new is generated

    fixed = RecordingRig()
    run(fixed, "stale_dns", FAST, examples=tmp_path)  # the bug is fixed: every schedule passes
    assert fixed.schedules[0][:2] == SHRUNK  # still tried first (and goes on: it no longer fails), then dropped
    assert not kept(tmp_path / "stale_dns"), kept(tmp_path / "stale_dns")


def test_each_name_keeps_its_own_failures(tmp_path: Path) -> None:
    """The machine's examples are keyed by its source, shared by every rig: the name keeps them apart."""
    with pytest.raises(AssertionError):
        run(RecordingRig("stale_dns"), "broken_on_purpose", FAST, examples=tmp_path)
    other = RecordingRig()
    run(other, "live", FAST, examples=tmp_path)
    assert other.schedules[0] and other.schedules[0] != SHRUNK
    assert kept(tmp_path / "broken_on_purpose") and not kept(tmp_path / "live")


def test_the_examples_directory_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(replay.ENV, raising=False)
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert replay.examples_dir() == tmp_path / ".hypothesis" / "chaos"
    assert replay.examples_dir(tmp_path / "project") == tmp_path / "project" / ".hypothesis" / "chaos"
    monkeypatch.setenv(replay.ENV, "kept/schedules")
    assert replay.examples_dir() == tmp_path / "kept" / "schedules"
    assert replay.examples_dir(tmp_path / "project") == tmp_path / "project" / "kept" / "schedules"
    assert replay.database("chaos_schedules").path == tmp_path / "kept" / "schedules" / "chaos_schedules"
    monkeypatch.setenv(replay.ENV, str(tmp_path / "elsewhere"))
    assert replay.examples_dir(tmp_path / "project") == tmp_path / "elsewhere"
    monkeypatch.setenv(replay.ENV, " ")
    with pytest.raises(ValueError, match="GAMEDAY_CHAOS_EXAMPLES is set but empty"):
        replay.examples_dir()


@pytest.mark.parametrize("name", ["", "..", "a/b", "schedules of mine"])
def test_a_name_that_cannot_be_a_directory_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot name a directory of failing schedules"):
        replay.database(name, tmp_path)
