"""The contract between the supervisor, the control plane and the data planes (parts).

A part (fabric, route53, rds, ec2, ...) is a class with these class attributes (typed ``ClassVar``):

- ``name``: its name, which names its logger (``gameday.<name>``), its log and state sub-directories;
- ``provides`` and ``requires``: tuples of the service types of stack.local.services (``Network``,
  ``ServiceRecords``, ``DbStatus``, ``RdsStore``). The supervisor starts the parts in an order where
  each starts after the providers of what it requires, and refuses a stack where a required service
  has no provider or the services form a cycle. Nothing else passes between parts: a part asks for
  a service with ``context.require(Network)`` and never imports another part.
- ``cleanup_leftovers(context)`` (a static method): remove what a crashed run of the part left (child
  processes outside the marker's reach, files outside the state directory). The supervisor calls it
  for every part it knows before start-up and after stop; it must be safe when nothing is left.

Each part is started with its own ``PartContext``: the stack's instance and resolved environment, its
own logger, its own log directory (``log_dir``, which outlives the stack), the shared state directory,
the services registry, boto3 clients for the local endpoint, and the stack's zygote (both shared by every
part's context). A part forks its Python child processes from the zygote (stack.local.zygote), so they
share the interpreter and every import already made there; a context made outside a supervisor has no
zygote, and the part then starts one of its own.

The control plane calls a started part in two ways:

- ``answers()``: operations the part answers itself instead of moto (for example
  Route 53's GetHealthCheckStatus). The control plane routes a matching request to it.
- ``on_change(change)``: after every *successful* mutating call (the notify hook). The part then
  reads what it needs through boto3 against the local endpoint, the same API a user sees. A part that
  writes through the API itself tells its own calls apart by a marker in their User-Agent
  (``change.request.user_agent``), as the DynamoDB replicator does so it never replicates its writes.

Parts must not block the control plane for long in ``on_change``: hand work to a thread. A part
whose effect the caller relies on at once (the fabric: a NACL swap is enforced when the call
returns) may wait for it, bounded, and raise ``ChangeNotApplied`` when it cannot apply the change:
the control plane then fails the API call instead of answering 200 for a change nothing enforces.

Every part reports its ``health()``: whatever it could not apply (a skipped NACL entry, a dropped
record, a failed DB instance) makes it ``degraded`` with the reasons, until it is fixed.

Beside this module, what parts share without importing each other: services.py (the services and
the start order), messages.py (ApiRequest, ApiResponse, Change), awserror.py (AWS errors in each
protocol's wire format), geography.py (where Route 53's checkers sit, and their RTTs), instance.py
(an instance's addresses and directories); assembly.py loads, orders, starts and cleans the parts.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal, Mapping, Protocol, TypeVar

import boto3
from botocore.config import Config

from environments.model import LocalEnvironment
from base.errors import StackError
from base.retries import retries
from base.timescale import TimeScale
from stack.local.instance import Instance
# The API messages (messages.py), re-exported: parts name them as part of this contract.
from stack.local.messages import ApiHandler as ApiHandler, ApiRequest as ApiRequest, ApiResponse as ApiResponse
from stack.local.messages import Change as Change
from stack.local.services import Kind, Services

if TYPE_CHECKING:
    from stack.local.zygote.client import Zygote

T = TypeVar("T")

# Dummy credentials: the local endpoint accepts anything, and real ones must never be sent to it.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def local_session(region_name: str | None = None) -> boto3.session.Session:
    """A boto3 Session for the local stack that ignores AWS_PROFILE and AWS_DEFAULT_PROFILE.

    The local stack needs no profile, and a profile that does not exist (AWS_PROFILE=nosuch) would
    otherwise fail every client it creates with ProfileNotFound.
    """
    from stack.local import servicemodels

    # session_vars: the profile is looked up in no environment variable and no config file key.
    core = servicemodels.session(profile=(None, None, None, None))
    return boto3.session.Session(region_name=region_name, botocore_session=core, **LOCAL_CREDENTIALS)


HealthState = Literal["healthy", "degraded"]


@dataclass(frozen=True)
class Health:
    """Whether a part applies everything it was told to; when it does not, why (one reason per thing)."""

    state: HealthState = "healthy"
    reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, reasons: Iterable[str]) -> "Health":
        """Healthy when there is no reason, degraded otherwise."""
        found = tuple(reasons)
        return cls("degraded" if found else "healthy", found)

    @property
    def healthy(self) -> bool:
        return self.state == "healthy"

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "reasons": list(self.reasons)}

    @classmethod
    def from_json(cls, data: Any) -> "Health":
        """Read ``as_json()`` back; anything else (a missing or malformed key) reads as degraded."""
        if isinstance(data, Mapping) and data.get("state") in ("healthy", "degraded"):
            reasons = tuple(str(r) for r in data.get("reasons") or ())
            if data["state"] == "healthy" and not reasons:
                return cls()
            return cls("degraded", reasons or ("degraded, with no reason given",))
        return cls("degraded", (f"no health reported (got {data!r})",))


class ChangeNotApplied(StackError):
    """A part could not apply an accepted change; the control plane fails the API call with the reason."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


class LocalClients:
    """boto3 clients aimed at one stack's local endpoint, cached and shared by every part's context."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}
        # One session for every client: a new Session re-reads botocore's model directories (seconds on a busy disk).
        self._session: Any = None
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:  # boto3 sessions are not thread-safe; parts call this from their own threads
            if key not in self._clients:
                if self._session is None:
                    self._session = local_session()
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url,
                    config=Config(retries=retries(3), connect_timeout=2, read_timeout=30),
                )
            return self._clients[key]


@dataclass
class PartContext:
    """What one part is started with (see the module docstring); each part gets its own."""

    instance: Instance
    environment: LocalEnvironment  # already resolved for the instance's address ranges
    state_dir: Path  # the part may create a sub-directory named after itself; it is removed at `down`
    log: logging.Logger  # the part's own: gameday.<part>
    services: Services = field(default_factory=Services)
    log_dir: Path | None = None  # the part's own log directory (outlives the stack); None: <instance logs>/<part>
    part: str = ""  # the part's name, for errors naming who needs a service
    clients: LocalClients | None = field(default=None, repr=False)
    zygote: Zygote | None = field(default=None, repr=False)  # the stack's; the supervisor stops it after the parts

    @classmethod
    def for_part(cls, name: str, instance: Instance, services: Services, clients: LocalClients | None = None,
                 zygote: Zygote | None = None) -> "PartContext":
        """The context the supervisor gives part ``name``: its logger and log directory, shared services, clients
        and zygote."""
        return cls(instance, instance.resolved(), instance.state_dir, logging.getLogger(f"gameday.{name}"),
                   services, instance.log_dir / name, name, clients, zygote)

    @property
    def timescale(self) -> TimeScale:
        return self.environment.timescale

    def require(self, kind: Kind[T]) -> T:
        """The provider of service ``kind``. Raises StackError naming it and this part when none is registered."""
        return self.services.require(kind, f"part {self.part or self.log.name}")

    def find(self, kind: Kind[T]) -> T | None:
        return self.services.find(kind)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client aimed at this stack's local endpoint, cached (a new one costs tens of ms)."""
        if self.clients is None:
            self.clients = LocalClients(self.instance.aws_endpoint)
        return self.clients.client(service, region)


class Part(Protocol):
    # Class attributes: read from the class before any instance exists, to order start-up.
    name: ClassVar[str]
    provides: ClassVar[tuple[type, ...]]  # services of stack.local.services this part lends once started
    requires: ClassVar[tuple[type, ...]]  # services it needs; it starts after their providers

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Remove what a crashed run of this part left; what was done, one note each. Safe when nothing is left."""

    def start(self, context: PartContext) -> None:
        """Start listeners, threads and child processes. Return once the part is ready."""

    def stop(self) -> None:
        """Stop everything the part started and remove its files. Must be safe to call twice."""

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        """(service, operation) pairs this part answers instead of moto."""

    def on_change(self, change: Change) -> None:
        """Called after every successful mutating API call. Raises ChangeNotApplied (see the module docstring)."""

    def health(self) -> Health:
        """Healthy, or degraded with what the part could not apply and why."""

    def status(self) -> Mapping[str, Any]:
        """What `gameday stack status` shows for this part (JSON-serialisable)."""
