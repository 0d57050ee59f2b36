"""The contract between the supervisor, the control plane and the data planes (parts).

A part (fabric, route53, rds, ec2, ...) is started by the supervisor with a ``PartContext``.
The control plane calls it in two ways:

- ``answers()``: operations the part answers itself instead of moto (for example
  Route 53's GetHealthCheckStatus). The control plane routes a matching request to it.
- ``on_change(change)``: after every *successful* mutating call (the notify hook). The part then
  reads what it needs through boto3 against the local endpoint, the same API a user sees.

Parts must not block the control plane for long in ``on_change``: hand work to a thread. A part
whose effect the caller relies on at once (the fabric: a NACL swap is enforced when the call
returns) may wait for it, bounded, and raise ``ChangeNotApplied`` when it cannot apply the change:
the control plane then fails the API call instead of answering 200 for a change nothing enforces.

Every part reports its ``health()``: whatever it could not apply (a skipped NACL entry, a dropped
record, a failed DB instance) makes it ``degraded`` with the reasons, until it is fixed.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Protocol

import boto3
from botocore.config import Config

from environments.model import LocalEnvironment
from base.errors import StackError
from base.retries import retries
from base.timescale import TimeScale
from stack.local.instance import Instance

# Dummy credentials: the local endpoint accepts anything, and real ones must never be sent to it.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def local_session(region_name: str | None = None) -> boto3.session.Session:
    """A boto3 Session for the local stack that ignores AWS_PROFILE and AWS_DEFAULT_PROFILE.

    The local stack needs no profile, and a profile that does not exist (AWS_PROFILE=nosuch) would
    otherwise fail every client it creates with ProfileNotFound.
    """
    import botocore.session

    # session_vars: the profile is looked up in no environment variable and no config file key.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.session.Session(region_name=region_name, botocore_session=core, **LOCAL_CREDENTIALS)


@dataclass(frozen=True)
class ApiRequest:
    """One AWS API call as the control plane parsed it (botocore's operation names and shapes)."""

    service: str  # botocore service name: "route53", "rds", "ec2", ...
    operation: str  # botocore operation name: "CreateHealthCheck", "RebootDBInstance", ...
    region: str
    params: Mapping[str, Any]  # the request's input, named as in botocore's model
    path: str = ""  # the HTTP path (REST services carry ids there, e.g. /2013-04-01/healthcheck/<id>/status)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """A successful mutating call, passed to every part's ``on_change``."""

    request: ApiRequest
    response_body: bytes


Answer = Callable[[ApiRequest], ApiResponse]

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


@dataclass
class PartContext:
    instance: Instance
    environment: LocalEnvironment  # already resolved for the instance's address ranges
    state_dir: Path  # the part may create a sub-directory named after itself; it is removed at `down`
    log: logging.Logger
    services: dict[str, Any] = field(default_factory=dict)  # other parts, by name, once started
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    # One session for every client: a new Session re-reads botocore's model directories (seconds on a busy disk).
    _session: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def timescale(self) -> TimeScale:
        return self.environment.timescale

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client aimed at this stack's local endpoint, cached (a new one costs tens of ms)."""
        key = (service, region)
        with self._lock:  # boto3 sessions are not thread-safe; parts call this from their own threads
            if key not in self._clients:
                if self._session is None:
                    self._session = local_session()
                self._clients[key] = self._new_client(service, region)
            return self._clients[key]

    def _new_client(self, service: str, region: str) -> Any:
        return self._session.client(
            service, region_name=region,
            endpoint_url=self.instance.aws_endpoint,
            config=Config(retries=retries(3), connect_timeout=2, read_timeout=30),
        )


class Part(Protocol):
    name: str

    def start(self, context: PartContext) -> None:
        """Start listeners, threads and child processes. Return once the part is ready."""

    def stop(self) -> None:
        """Stop everything the part started and remove its files. Must be safe to call twice."""

    def answers(self) -> Mapping[tuple[str, str], Answer]:
        """(service, operation) pairs this part answers instead of moto."""

    def on_change(self, change: Change) -> None:
        """Called after every successful mutating API call. Raises ChangeNotApplied (see the module docstring)."""

    def health(self) -> Health:
        """Healthy, or degraded with what the part could not apply and why."""

    def status(self) -> Mapping[str, Any]:
        """What `gameday stack status` shows for this part (JSON-serialisable)."""
