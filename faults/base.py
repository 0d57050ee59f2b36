"""What every fault shares: guard, journal first, inject, watch the stop conditions, roll back in ``finally``.

A fault is one reversible change made through the AWS API, used as a context manager::

    with faults.network.IsolateAz(clients, journal, region="us-east-1", availability_zone="us-east-1a",
                                  subnet_id=subnet, guard=guard):
        ...  # observe

``__enter__`` first runs the guard (faults.guard), all read-only: allowed Regions, the caller's account,
the target tag on every target, the stop-condition alarms. In a dry run it then plans (faults.plan) and
raises ``DryRun``. Otherwise it journals the intent before the first mutating call, injects (rolling back
what it did if injection fails half-way), and starts a watcher over the stop conditions. ``__exit__``
rolls back whatever happened inside the block (exceptions, KeyboardInterrupt, SIGTERM) and marks the
journal entry done. A stop condition that fires rolls back every active fault from the watcher's thread,
interrupts the experiment, and ``__exit__`` raises ``Aborted``.

``rollback(state)`` must be idempotent and work from any partial state, because ``gameday recover``
calls it with whatever a killed run had journaled.
"""
from __future__ import annotations

import copy
import os
import threading
from types import TracebackType
from typing import Any, ClassVar, NoReturn

from botocore.exceptions import ClientError

from base.clients import ClientFactory
from faults import signals
from faults.signals import Interrupted, Terminated
from faults import guard as guard_
from base import clock, runid
from base.errors import FaultError
from faults.guard import Caller, Guard, NoGuard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call, DryRun, PlannedFault, PlanningClients, ScratchJournal
from faults.stopconditions import Aborted, AlarmState, Watcher
from base.timeline import Timeline

__all__ = ["ClientFactory", "FAULT_TAG", "Fault", "Interrupted", "Terminated"]

FAULT_TAG = "gameday:fault"  # every resource a fault creates carries it (value: the journal entry), so `gameday scan` finds leftovers


def _no_clients(service: str, region: str) -> NoReturn:
    """The clients of a fault that only plans its rollback: planning calls nothing."""
    raise RuntimeError(f"planned_rollback must call nothing, but asked for a {service} client in {region!r}")


class Fault:
    name: ClassVar[str]
    fis_capable: ClassVar[bool] = False  # whether `injector: fis` runs this fault as an AWS FIS experiment
    # A runbook step (faults.runbook) stays in force after its block until the topology is restored, and is
    # recovered after every other fault: those may cut the paths its restore needs.
    runbook_step: ClassVar[bool] = False

    def __init__(self, clients: ClientFactory, journal: Journal | ScratchJournal, timeline: Timeline | None = None,
                 guard: Guard | None = None) -> None:
        self.clients = clients
        self.journal = journal
        self.timeline = timeline
        self.guard = guard
        self.entry: Entry | None = None
        self.injector = "api"
        self.planning = False  # inject() runs against PlanningClients: skip waits on ids that do not exist
        self.caller: Caller | None = None
        self.resources: list[Resource] = []
        self.alarms: list[AlarmState] = []
        self._in_force: Guard | None = None
        self._watcher: Watcher | None = None
        self._lock = threading.Lock()  # injection and rollback never overlap (the watcher may roll back)
        self._rolled_back = False

    # -- what each fault defines -----------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def regions(self) -> list[str]:
        """The Regions this fault changes ("" for global services)."""
        return [self.params()["region"]]

    def discover(self, caller: Caller) -> list[Resource]:
        """Read-only: the resources this fault will change, with their ARNs and tags, for the guard."""
        raise NotImplementedError

    def inject(self, entry: Entry) -> None:
        """Make the change; journal every id needed to undo it with ``self.journal.progress`` first."""
        raise NotImplementedError

    def rollback(self, state: dict[str, Any]) -> None:
        """Undo from ``params | state``; idempotent."""
        raise NotImplementedError

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        """The mutating calls ``rollback(state)`` makes after a complete injection, and a note on its waits."""
        raise NotImplementedError

    def targets(self) -> list[str]:
        """The ARNs this fault changes, for the plan and the evidence."""
        return [resource.arn for resource in self.resources]

    @property
    def run_id(self) -> str:
        return self._in_force.policy.run_id if self._in_force else runid.current()

    @classmethod
    def restore(cls, clients: ClientFactory, state: dict[str, Any]) -> None:
        """Roll back a journaled entry of this fault without its original object (``gameday recover``)."""
        fault = cls.__new__(cls)
        Fault.__init__(fault, clients, journal=ScratchJournal())  # rolling back journals nothing
        fault.injector = state.get("injector", "api")
        fault.rollback(state)

    @classmethod
    def planned_restore(cls, state: dict[str, Any]) -> tuple[list[Call], str]:
        """What ``restore`` would call for a journaled entry (``gameday recover --dry-run``); calls nothing."""
        fault = cls.__new__(cls)
        Fault.__init__(fault, _no_clients, journal=ScratchJournal())
        return fault.planned_rollback({"injector": "api", **state})

    # -- the shared protocol ---------------------------------------------------------------------

    def _record(self, kind: str, **details: Any) -> None:
        if self.timeline is not None:
            self.timeline.record(kind, self.name, **details)

    def _translate(self, error: ClientError, doing: str) -> FaultError:
        code = error.response.get("Error", {}).get("Code", "?")
        message = error.response.get("Error", {}).get("Message", "")
        return FaultError(f"{self.name}: {doing} failed with {code}: {message} (params {self.params()})")

    def _journal_params(self) -> dict[str, Any]:
        return {**self.params(), "injector": self.injector, "run_id": self.run_id}

    def __enter__(self) -> "Fault":
        """Check, then plan or inject. Raises NoGuard, SafetyError (account, Region, tag), StopConditionMissing,
        Aborted, DryRun (a dry run, after planning), FaultError (injection failed; what was done is rolled back)."""
        in_force = self.guard or guard_.current()
        if in_force is None:
            raise NoGuard(f"{self.name}: no safety guard is in force; pass guard=Guard(Policy.for_environment(env)) "
                          f"or run under the gameday pytest plugin; nothing was changed")
        self._in_force = in_force
        self.injector = in_force.policy.injector if self.fis_capable else "api"
        signals.enter()
        signals.busy(True)
        try:
            self._check(in_force)
            if in_force.policy.dry_run:
                planned = self._plan()
                in_force.plan.add(planned)
                self._record("fault_planned", targets=list(planned.targets), calls=[c.text() for c in planned.calls])
                raise DryRun(f"dry run: {self.name} planned on {', '.join(planned.targets) or 'no target'}; "
                             f"nothing was changed")
            self._inject()
            if not in_force.activate(self):
                assert in_force.aborted is not None
                self._undo(f"aborted: {in_force.aborted.name} in {in_force.aborted.state}")
                raise Aborted(in_force.aborted, f"{self.name} was rolled back as soon as it was injected")
            self._watcher = in_force.watch(self.clients, self._on_alarm, self.name)
        except BaseException:
            signals.busy(False)
            signals.leave()
            raise
        signals.busy(False)
        signals.body(True)
        return self

    def _check(self, in_force: Guard) -> None:
        try:
            self.caller = in_force.check_caller(self.clients, self.regions(), self.name)
            self.resources = self.discover(self.caller)
            in_force.check_targets(self.resources, self.name)
            self.alarms = in_force.check_stop_conditions(self.clients, self.name)
        except ClientError as error:
            raise self._translate(error, "checking the account, the targets and the stop conditions") from error

    def _inject(self) -> None:
        self.entry = self.journal.begin(self.name, self._journal_params())
        # The fault is dated from when its injection began, not when its last call returned: a FIS template's
        # first action (a subnet cut) takes effect while a later one (instances stopping) is still starting,
        # and an RTO measured from the return would leave that part of the outage out.
        began = clock.now()
        try:
            with self._lock:
                self.inject(self.entry)
        except BaseException as error:
            self._undo("injection failed")
            if isinstance(error, ClientError):
                raise self._translate(error, "injecting") from error
            raise
        self._record("fault_injected", occurred_at=began, params=self.params(), state=dict(self.entry.state),
                     targets=self.targets(), injector=self.injector,
                     injection_s=round(clock.now().monotonic_s - began.monotonic_s, 3))

    def _plan(self) -> PlannedFault:
        planner = copy.copy(self)
        recorder = PlanningClients(self.clients)
        planner.clients, planner.timeline, planner.planning = recorder, None, True
        planner.journal = ScratchJournal()
        planner._lock = threading.Lock()
        entry = planner.entry = planner.journal.begin(self.name, self._journal_params())
        planner.inject(entry)
        rollback, note = planner.planned_rollback({**entry.params, **entry.state})
        where = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        return PlannedFault(self.name, self.params(), self.injector, tuple(self.targets()), tuple(recorder.calls),
                            tuple(rollback), note, tuple(f"{a.name} ({a.region}): {a.state}" for a in self.alarms), where)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        signals.body(False)
        signals.busy(True)
        in_force = self._in_force
        assert in_force is not None
        try:
            in_force.deactivate(self)
            if self._watcher is not None:
                self._watcher.stop()
            self._undo("rolled back")
        finally:
            signals.busy(False)
            signals.leave()
        if in_force.aborted is not None and not isinstance(error, Aborted):
            raise Aborted(in_force.aborted, f"{self.name} was rolled back") from error

    def _undo(self, outcome: str) -> None:
        with self._lock:
            if self._rolled_back or self.entry is None:
                return
            try:
                self.rollback({**self.entry.params, **self.entry.state})
            except ClientError as error:
                self._record("fault_rollback_failed", error=str(error))
                raise self._translate(error, "rolling back") from error
            except Exception as error:
                self._record("fault_rollback_failed", error=str(error))
                raise
            self._rolled_back = True
        self.journal.done(self.entry, outcome)
        self._record("fault_rolled_back", outcome=outcome)

    # -- stop conditions (called from the watcher's thread) --------------------------------------

    def _on_alarm(self, alarm: AlarmState) -> None:
        assert self._in_force is not None
        if not self._in_force.abort(alarm):
            self.abort(alarm)  # the run was already aborted; make sure this fault is rolled back too
        signals.interrupt_main()

    def abort(self, alarm: AlarmState) -> None:
        """Roll back now because ``alarm`` fired; never raises (``__exit__`` retries a failed rollback)."""
        if self._rolled_back:
            return
        if self.timeline is not None:  # a "state" event: the evidence schema has no kind of its own for it
            self.timeline.record("state", f"stop condition {alarm.name} in {alarm.state}", fault=self.name,
                                 alarm=alarm.name, region=alarm.region, reason=alarm.reason)
        try:
            self._undo(f"aborted: {alarm.name} in {alarm.state}")
        except Exception:
            pass  # recorded as fault_rollback_failed by _undo
        if self.timeline is not None:
            self.timeline.record("verdict", "aborted", fault=self.name, alarm=alarm.name, region=alarm.region,
                                 state=alarm.state, reason=alarm.reason)
