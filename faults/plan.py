"""The dry run: what each fault would do, computed by the fault's own code, with nothing changed.

A fault plans by running its ``inject`` against ``PlanningClients``: reads (Describe*, Get*, List*)
go to the real API, so target ids and ARNs are real; every other call is validated against the
botocore model, recorded, and answered with placeholders such as ``<CreateNetworkAcl.NetworkAcl.NetworkAclId>``
instead of being sent. The planned calls are therefore the exact calls ``inject`` makes. The rollback
is the fault's ``planned_rollback``, which tests compare with the real rollback under moto.
"""
from __future__ import annotations

import copy
import json
import threading
import time
import unittest
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from botocore.validate import validate_parameters

from base.clients import ClientFactory
from base.operations import is_read_only
from faults.journal import Entry

ENTRY_ID = "<journal entry id>"  # the plan's stand-in for the id the journal gives the fault when it runs
_MAX_DEPTH = 8


class DryRun(unittest.SkipTest):
    """Dry run: the fault was planned and nothing was changed.

    A SkipTest, so pytest reports the experiment as skipped with this message; its later steps
    depend on the fault's effect and are not planned.
    """


@dataclass(frozen=True)
class Call:
    service: str
    region: str
    operation: str
    params: Mapping[str, Any]

    def text(self) -> str:
        return f"{self.service}.{self.operation} [{self.region}] {json.dumps(self.params, sort_keys=True, default=str)}"


@dataclass(frozen=True)
class PlannedFault:
    fault: str
    params: Mapping[str, Any]
    injector: str
    targets: tuple[str, ...]  # ARNs, each checked for the target tag
    calls: tuple[Call, ...]  # the mutating calls injection makes, in order
    rollback: tuple[Call, ...]  # the mutating calls rollback makes, in order
    rollback_note: str = ""  # what rollback does beyond these calls (waits), or why there is nothing to undo
    stop_conditions: tuple[str, ...] = ()  # "name (region): state"
    where: str = ""  # the experiment (pytest node id) that asked for it

    def text(self) -> str:
        lines = [f"{self.fault}  injector={self.injector}" + (f"  ({self.where})" if self.where else ""),
                 f"  params: {json.dumps(self.params, sort_keys=True, default=str)}", "  targets:"]
        lines += [f"    {arn}" for arn in self.targets] or ["    (none found)"]
        lines.append("  calls:")
        lines += [f"    {call.text()}" for call in self.calls] or ["    (none)"]
        lines.append("  rollback:")
        lines += [f"    {call.text()}" for call in self.rollback] or ["    (no call)"]
        if self.rollback_note:
            lines.append(f"    {self.rollback_note}")
        if self.stop_conditions:
            lines.append(f"  stop conditions: {', '.join(self.stop_conditions)}")
        return "\n".join(lines)


class Plan:
    """Every fault a dry run planned, in order; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[PlannedFault] = []
        self._lock = threading.Lock()

    def add(self, planned: PlannedFault) -> None:
        with self._lock:
            self._faults.append(planned)

    @property
    def faults(self) -> tuple[PlannedFault, ...]:
        with self._lock:
            return tuple(self._faults)

    def text(self, header: str = "") -> str:
        faults = self.faults
        lines = [header or f"dry run: {len(faults)} fault(s) planned; no mutating call was made"]
        for number, planned in enumerate(faults, 1):
            lines.append(f"{number}. {planned.text()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"faults": [asdict(planned) for planned in self.faults]}


def _placeholder(shape: Any, path: str, depth: int = 0) -> Any:
    """A response value for ``shape`` whose strings name where they came from."""
    kind = shape.type_name
    if kind == "structure":
        if depth >= _MAX_DEPTH:
            return {}
        return {name: _placeholder(member, f"{path}.{name}", depth + 1) for name, member in shape.members.items()}
    if kind == "list":
        return []
    if kind == "map":
        return {}
    if kind == "boolean":
        return False
    if kind == "blob":
        return b""
    # Strings, numbers and timestamps alike: faults only pass these on (a version to a later call, an id to a
    # rollback), so the plan shows where each value will come from instead of a made-up one.
    return f"<{path}>"


class PlanningClient:
    """A boto3 client whose mutating operations are recorded, not sent."""

    def __init__(self, real: Any, region: str, calls: list[Call], lock: threading.Lock) -> None:
        self._real, self._region, self._calls, self._lock = real, region, calls, lock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        operation = self._real.meta.method_to_api_mapping.get(name)
        if operation is None or is_read_only(operation):
            return attribute

        def planned(**params: Any) -> dict[str, Any]:
            model = self._real.meta.service_model.operation_model(operation)
            if model.input_shape is not None:
                validate_parameters(params, model.input_shape)  # an invalid call is a bug the plan must show
            with self._lock:
                self._calls.append(Call(self._real.meta.service_model.service_name, self._region, operation,
                                        copy.deepcopy(params)))
            if model.output_shape is None:
                return {}
            answer: dict[str, Any] = _placeholder(model.output_shape, operation)
            return answer

        return planned


class PlanningClients:
    """A client factory for planning: ``PlanningClients(clients)("ec2", "us-east-1")``; ``calls`` lists what was planned."""

    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> PlanningClient:
        return PlanningClient(self._clients(service, region), region, self.calls, self._lock)


class ScratchJournal:
    """A journal kept in memory, for planning: a dry run writes nothing to disk either."""

    target = "plan"

    def begin(self, fault: str, params: dict[str, Any]) -> Entry:
        return Entry(ENTRY_ID, fault, dict(params), self.target, time.time())

    def progress(self, entry: Entry, **state: Any) -> None:
        entry.state.update(state)

    def done(self, entry: Entry, outcome: str = "rolled back") -> None:
        entry.done, entry.outcome = True, outcome
