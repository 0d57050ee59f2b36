"""The safety guard: no fault changes anything unless every rule of the environment holds.

Before each fault, in this order, all read-only:

1. every Region the fault touches is in the allowlist (``allowed_regions`` for aws, the environment's
   Regions for local);
2. the caller's account, from STS GetCallerIdentity, is the environment's ``account_id``;
3. every target carries the target tag (aws: ``target_tag``, default ``gameday:target=true``; local: the
   reference builder's ``gameday:stack=securecart``), and its ARN names the allowed account and Region;
4. no stop-condition alarm is in ALARM, and the run was not aborted earlier.

A failed rule raises before the journal is written and before any mutating call. While a fault is
active a ``Watcher`` reads the alarms; ``abort`` rolls back every active fault, newest first.

The guard in force is passed to a fault (``guard=``) or installed for the process (the pytest plugin
installs one per session, the CLI one per command); a fault with neither refuses to run.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, Protocol

from base.clients import ClientFactory
from environments.model import AwsEnvironment, LocalEnvironment, StopCondition
from base import runid
from faults import stopconditions
from base.errors import GamedayError
from faults.plan import Plan

LOCAL_TARGET_TAG = ("gameday:stack", "securecart")  # what the reference builder puts on everything it builds
DEFAULT_WATCH_INTERVAL_AWS_S = 10.0  # scaled by time_scale on the local stack


class SafetyError(GamedayError):
    """A safety rule refused the change; nothing was changed."""


class AccountNotAllowed(SafetyError):
    """The credentials or the target belong to an account the environment does not allow."""


class RegionNotAllowed(SafetyError):
    """A Region is not in the environment's allowlist."""


class TargetNotTagged(SafetyError):
    """A target does not carry the environment's target tag."""


class NoGuard(SafetyError):
    """No safety guard is in force: pass guard=Guard(Policy.for_environment(env)) or run under the gameday pytest plugin."""


@dataclass(frozen=True)
class Caller:
    account_id: str
    arn: str
    partition: str  # aws, aws-cn, aws-us-gov: ARNs the guard builds use it


@dataclass(frozen=True)
class Resource:
    """A fault's target as the API describes it: what the guard checks and the plan shows."""

    arn: str
    id: str
    region: str  # "" for global resources (Route 53 health checks)
    tags: Mapping[str, str]


@dataclass(frozen=True)
class FisSettings:
    role_arn: str | None = None  # None: arn:<partition>:iam::<account>:role/gameday-fis
    max_duration_s: int = 3600  # a disrupt-connectivity action ends by itself after this, even if gameday dies
    poll_s: float = 5.0
    timeout_s: float = 900.0


@dataclass(frozen=True)
class Policy:
    environment: str
    account_id: str
    regions: tuple[str, ...]
    target_tag: tuple[str, str]
    stop_conditions: tuple[StopCondition, ...] = ()
    watch_interval_s: float = DEFAULT_WATCH_INTERVAL_AWS_S
    injector: str = "api"
    fis: FisSettings = FisSettings()
    dry_run: bool = False
    run_id: str = field(default_factory=runid.current)

    @classmethod
    def for_environment(cls, environment: LocalEnvironment | AwsEnvironment, *, dry_run: bool = False,
                        run_id: str | None = None) -> "Policy":
        """The rules an environment file states. Fields a local environment lacks take the local defaults."""
        if isinstance(environment, AwsEnvironment):
            regions = tuple(environment.allowed_regions)
        else:
            regions = tuple(environment.regions)
        configured = getattr(environment, "target_tag", None)  # local environments have none (yet): the stack tag
        key, _, value = configured.partition("=") if configured else (LOCAL_TARGET_TAG[0], "=", LOCAL_TARGET_TAG[1])
        target_tag = (key, value)
        # The environment gives it in AWS-equivalent seconds, like every other AWS timing.
        interval = (getattr(environment, "stop_condition_interval_s", None) or DEFAULT_WATCH_INTERVAL_AWS_S) \
            * environment.time_scale
        return cls(environment=environment.name, account_id=environment.account_id, regions=regions,
                   target_tag=target_tag, stop_conditions=tuple(getattr(environment, "stop_conditions", ()) or ()),
                   watch_interval_s=float(interval), injector=getattr(environment, "injector", "api") or "api",
                   fis=FisSettings(role_arn=getattr(environment, "fis_role_arn", None)), dry_run=dry_run,
                   run_id=run_id or runid.current())


class Abortable(Protocol):
    def abort(self, alarm: stopconditions.AlarmState) -> None:
        """Roll back now, from the watcher's thread; must not raise."""


def _arn_parts(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN; empty strings for global resources."""
    parts = arn.split(":", 5)
    return (parts[3], parts[4]) if len(parts) == 6 else ("", "")


class Guard:
    """The policy in force for one run, and the run's state: its dry-run plan and whether it was aborted."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.plan = Plan()
        self.aborted: stopconditions.AlarmState | None = None
        self._active: list[Abortable] = []
        self._lock = threading.Lock()
        # Held for the whole newest-first rollback, so a second watcher that sees the same alarm waits for
        # it instead of rolling its own fault back concurrently (which broke the order).
        self._aborting = threading.Lock()

    # -- the rules -------------------------------------------------------------------------------

    def check_regions(self, regions: Iterable[str], doing: str) -> None:
        """Raises RegionNotAllowed naming the first Region outside the allowlist."""
        for region in regions:
            if region and region not in self.policy.regions:
                raise RegionNotAllowed(f"{doing}: Region {region} is not in environment {self.policy.environment}'s "
                                       f"allowlist {list(self.policy.regions)}; nothing was changed")

    def check_caller(self, clients: ClientFactory, regions: Iterable[str], doing: str) -> Caller:
        """Check the Regions, then ask STS who is calling. Raises RegionNotAllowed, AccountNotAllowed."""
        regions = [r for r in regions if r]
        self.check_regions(regions, doing)
        identity = clients("sts", regions[0] if regions else self.policy.regions[0]).get_caller_identity()
        caller = Caller(identity["Account"], identity["Arn"], identity["Arn"].split(":")[1])
        if caller.account_id != self.policy.account_id:
            raise AccountNotAllowed(f"{doing}: the credentials are for account {caller.account_id} ({caller.arn}), but "
                                    f"environment {self.policy.environment} allows only account "
                                    f"{self.policy.account_id}; nothing was changed")
        return caller

    def check_targets(self, resources: Iterable[Resource], doing: str) -> None:
        """Raises TargetNotTagged, AccountNotAllowed or RegionNotAllowed naming the resource's ARN."""
        key, value = self.policy.target_tag
        for resource in resources:
            region, account = _arn_parts(resource.arn)
            if account and account != self.policy.account_id:
                raise AccountNotAllowed(f"{doing}: {resource.arn} belongs to account {account}, not the allowed "
                                        f"{self.policy.account_id}; nothing was changed")
            self.check_regions([region], f"{doing}: {resource.arn}")
            if resource.tags.get(key) != value:
                found = resource.tags.get(key)
                raise TargetNotTagged(f"{doing}: refusing {resource.arn}: it does not carry the target tag {key}={value}"
                                      + (f" (it has {key}={found})" if found is not None else "")
                                      + "; tag it to let gameday change it, or choose another target; nothing was changed")

    def check_stop_conditions(self, clients: ClientFactory, doing: str) -> list[stopconditions.AlarmState]:
        """Refuse when the run was aborted or an alarm is in ALARM (which aborts the run). Raises Aborted."""
        if self.aborted is not None:
            raise stopconditions.Aborted(self.aborted, f"the run was aborted earlier; {doing} was not injected")
        states = stopconditions.read(clients, self.policy.stop_conditions)
        for state in states:
            if state.firing:
                self.abort(state)
                raise stopconditions.Aborted(state, f"{doing} was not injected")
        return states

    # -- while faults are active -----------------------------------------------------------------

    def watch(self, clients: ClientFactory, on_alarm: Callable[[stopconditions.AlarmState], None],
              name: str) -> stopconditions.Watcher | None:
        """Start a watcher over the stop conditions (None when there are none)."""
        if not self.policy.stop_conditions:
            return None
        return stopconditions.Watcher(lambda: stopconditions.read(clients, self.policy.stop_conditions),
                                      self.policy.watch_interval_s, on_alarm, name=name).start()

    def activate(self, fault: Abortable) -> bool:
        """Register an injected fault for ``abort``. False when the run was aborted meanwhile: roll it back."""
        with self._lock:
            if self.aborted is not None:
                return False
            self._active.append(fault)
            return True

    def deactivate(self, fault: Abortable) -> None:
        with self._lock:
            if fault in self._active:
                self._active.remove(fault)

    def abort(self, alarm: stopconditions.AlarmState) -> bool:
        """Mark the run aborted and roll back every active fault, newest first. False if it already was.

        A caller that finds the run already aborted returns only after that rollback has finished.
        """
        with self._aborting:
            with self._lock:
                if self.aborted is not None:
                    return False
                self.aborted = alarm
                active = list(reversed(self._active))
            for fault in active:
                fault.abort(alarm)
            return True


_installed: list[Guard] = []
_installed_lock = threading.Lock()


def current() -> Guard | None:
    """The guard installed for this process (the innermost one), if any."""
    with _installed_lock:
        return _installed[-1] if _installed else None


@contextlib.contextmanager
def installed(guard: Guard) -> Iterator[Guard]:
    """Install ``guard`` for faults that are given none, for the duration of the block."""
    install(guard)
    try:
        yield guard
    finally:
        uninstall(guard)


def install(guard: Guard) -> None:
    with _installed_lock:
        _installed.append(guard)


def uninstall(guard: Guard) -> None:
    with _installed_lock:
        if guard in _installed:
            _installed.remove(guard)
