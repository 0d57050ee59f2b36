"""Starting parts: each with its own context (logger, log directory), in service order; crash cleanup per part.

No stack runs: the parts are small fakes, and the instance's directories live in tmp_path.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from base.errors import StackError
from environments import loader
from stack.local import assembly, supervisor
from stack.local.instance import Instance
from stack.local.part import ApiHandler, Change, Health, PartContext
from stack.local.services import Network, Services

STARTED: list[str] = []
CLEANED: list[tuple[str, str, Path]] = []


class _Fake:
    name: ClassVar[str] = "fake"
    provides: ClassVar[tuple[type, ...]] = ()
    requires: ClassVar[tuple[type, ...]] = ()

    @classmethod
    def cleanup_leftovers(cls, context: PartContext) -> list[str]:
        CLEANED.append((cls.name, context.log.name, context.state_dir))
        return [f"cleaned {cls.name}"]

    def __init__(self) -> None:
        self.context: PartContext | None = None

    def start(self, context: PartContext) -> None:
        self.context = context
        STARTED.append(self.name)

    def stop(self) -> None:
        pass

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        pass

    def health(self) -> Health:
        return Health()

    def status(self) -> Mapping[str, Any]:
        return {}

    def warn(self, message: str) -> None:
        assert self.context is not None
        self.context.log.warning(message)


class FakeFabric(_Fake):
    name = "fakefabric"
    provides: ClassVar[tuple[type, ...]] = (Network,)

    def expose(self, address: str, port: int, backend: str) -> int:
        return port

    def unexpose(self, address: str, port: int) -> None:
        pass

    def register_process(self, address: str, pid: int) -> None:
        pass


class FakeUser(_Fake):
    name = "fakeuser"
    requires: ClassVar[tuple[type, ...]] = (Network,)

    def start(self, context: PartContext) -> None:
        context.require(Network)  # started after its provider, so this is there
        super().start(context)


class Broken(_Fake):
    name = "broken"

    @classmethod
    def cleanup_leftovers(cls, context: PartContext) -> list[str]:
        raise OSError("disk gone")


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Instance:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "logs"))
    monkeypatch.setenv("GAMEDAY_RUNTIME_DIR", str(tmp_path / "run"))
    STARTED.clear()
    CLEANED.clear()
    return Instance(3, loader.load("local"))  # type: ignore[arg-type]


def test_each_part_logs_on_its_own_logger_even_after_later_parts_started(
        instance: Instance, caplog: pytest.LogCaptureFixture) -> None:
    # Before, one context was shared and its logger reassigned per part: the first part's later
    # warnings (Route 53's zone warnings) landed on the logger of the last part started (gameday.ec2).
    parts = assembly.start_parts([FakeUser, FakeFabric], instance, Services())
    by_name = {part.name: part for part in parts}
    with caplog.at_level(logging.WARNING, logger="gameday"):
        by_name["fakefabric"].warn("fabric speaking")  # type: ignore[attr-defined]
        by_name["fakeuser"].warn("user speaking")  # type: ignore[attr-defined]
    loggers = {record.getMessage(): record.name for record in caplog.records}
    assert loggers == {"fabric speaking": "gameday.fakefabric", "user speaking": "gameday.fakeuser"}


def test_each_part_gets_its_own_log_directory_and_the_shared_services(instance: Instance) -> None:
    services = Services()
    parts = assembly.start_parts([FakeUser, FakeFabric], instance, services)
    contexts = {part.name: part.context for part in parts}  # type: ignore[attr-defined]
    assert contexts["fakefabric"].log_dir == instance.log_dir / "fakefabric"
    assert contexts["fakeuser"].log_dir == instance.log_dir / "fakeuser"
    assert contexts["fakefabric"] is not contexts["fakeuser"]
    assert contexts["fakeuser"].services is services and services.provider_name(Network) == "part fakefabric"


def test_parts_start_in_the_order_their_services_need_not_the_listed_one(instance: Instance) -> None:
    seen: list[str] = []
    assembly.start_parts([FakeUser, FakeFabric], instance, Services(), started=lambda part: seen.append(part.name))
    assert STARTED == ["fakefabric", "fakeuser"] and seen == STARTED


def test_a_missing_provider_is_refused_before_any_part_starts(instance: Instance) -> None:
    with pytest.raises(StackError, match="part fakeuser requires the service Network"):
        assembly.start_parts([_Fake, FakeUser], instance, Services())
    assert STARTED == []


def test_cleanup_runs_for_every_part_with_its_own_context_and_survives_a_failure(instance: Instance) -> None:
    notes = assembly.cleanup_leftovers([Broken, FakeFabric, FakeUser], instance)
    assert [name for name, _, _ in CLEANED] == ["fakefabric", "fakeuser"]
    assert all(logger == f"gameday.{name}" and state == instance.state_dir for name, logger, state in CLEANED)
    assert notes[0].startswith("cleaning the leftovers of broken failed: OSError: disk gone")
    assert notes[1:] == ["cleaned fakefabric", "cleaned fakeuser"]


def test_the_supervisor_cleans_leftovers_through_every_part_class(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "PARTS", (f"{__name__}:FakeFabric", f"{__name__}:FakeUser"))
    instance.state_dir.mkdir(parents=True)
    notes = supervisor.clean_leftovers(instance)
    assert "cleaned fakefabric" in notes and "cleaned fakeuser" in notes
    assert not instance.state_dir.exists()


def test_a_spec_that_is_not_a_part_class_is_refused() -> None:
    with pytest.raises(StackError, match="is not a part class"):
        assembly.load("stack.local.services:Services")
    with pytest.raises(StackError, match="cannot load the part 'stack.local.nosuch:Part'"):
        assembly.load("stack.local.nosuch:Part")
