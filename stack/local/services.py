"""What the parts of the local stack lend each other: typed services, a registry, and the start order.

A service is a Protocol class below. A part names the services it ``provides`` and ``requires`` as
class attributes (tuples of these classes); nothing else passes between parts, and no part imports
another. The supervisor orders start-up from those tuples alone (``start_order``): a part starts
after every provider of what it requires, a service nobody provides or a cycle is refused before
anything starts. Once a part has started, the supervisor registers it for each service it provides
(``Services.provide``); a part asks for one with ``context.require(Network)``, which returns the
provider, typed, or raises a StackError naming the service and the part that needs it.

The services, and who provides and requires them in the standard stack:

- ``Network`` (fabric): expose a node on its private address, register the processes behind it.
  Required by rds and ec2.
- ``Toxics`` (fabric): latency, loss and blackholes on a node's links. Looked up, when present, by
  the fis part (the AWSFIS SSM documents).
- ``SiteLinks`` (fabric): the links between sites outside AWS and Regions (Direct Connect, VPN, an
  Outpost's service link): fail or restore one, switch BFD, read their state. Looked up, when present,
  by the fis part (directconnect.disconnect_vif) and by the control plane (VgwTelemetry, VIF state).
- ``InstanceProcesses`` (ec2): the process running an instance. Looked up, when present, by the fis
  part (AWSFIS-Run-CPU-Stress).
- ``ServiceRecords`` (route53): serve a service-owned DNS name (an RDS endpoint). Required by rds.
- ``ClientRoutedRecords`` (route53): serve a service-owned name per client network (a CloudFront
  distribution's name: the edge nearest the client). Required by cloudfront.
- ``AcceleratorHealth`` (accelerator): Global Accelerator endpoints' health. Looked up, when present,
  by the control plane (DescribeEndpointGroup's HealthState).
- ``DbStatus`` (rds): the live status of a DB instance. Looked up, when present, by the control plane.
- ``RdsStore`` (the control plane, registered before any part): moto's RDS and EC2 bookkeeping, the
  only access to moto the RDS part has. Required by rds.
- ``MetricStore`` (the control plane): CloudWatch's stored metric data and alarms, and the one way
  to change an alarm's state with its history. Required by cloudwatch (the evaluator); looked up by
  route53 for ``CLOUDWATCH_METRIC`` health checks, which follow their alarm's state.
- ``GlobalTableItems`` (the control plane): the items of DynamoDB global tables, each write stamped
  and applied under the table's lock. Required by dynamodb.
- ``StrongConsistency`` (dynamodb): the write and strongly consistent read path of multi-Region
  strongly consistent (MRSC) global tables. Looked up, when present, by the control plane.

Durations crossing a service boundary are AWS seconds (unscaled); the receiving part applies the
environment's time scale.
"""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from base.errors import StackError
from stack.local.messages import ApiResponse


T = TypeVar("T")
# A service's Protocol class, as a parameter. Typed as a callable returning T because mypy refuses a
# Protocol class where type[T] is expected (type-abstract); at run time it is the class itself.
Kind = Callable[..., T]


@runtime_checkable
class Network(Protocol):
    """The fabric's private addresses: what answers on them, and whose connections come from them."""

    def expose(self, address: str, port: int, backend: str) -> int:
        """Make ``backend`` (``unix:/path`` or ``tcp:127.0.0.1:<port>``) reachable on ``address:port``; the bound port."""
        ...

    def unexpose(self, address: str, port: int) -> None:
        ...

    def register_process(self, address: str, pid: int) -> None:
        """Connections from ``pid`` and its descendants come from ``address``."""
        ...


@runtime_checkable
class Toxics(Protocol):
    """Toxiproxy-style effects on every link of one node (the fabric's: stack.local.fabric.toxics)."""

    def set_toxics(self, address: str, toxics: Sequence[Mapping[str, Any]]) -> None:
        """Replace the toxics on the node at ``address`` (an empty list removes them). Each is
        ``{"kind": "latency", "delay_ms": n}``, ``{"kind": "loss", "loss_percent": p}`` or
        ``{"kind": "blackhole", "port": n, "direction": "ingress" | "egress"}``."""
        ...


@runtime_checkable
class SiteLinks(Protocol):
    """The fabric's site links (stack.local.fabric.sites), named ``<site>/<link>`` as in the environment."""

    def set_link_state(self, link_id: str, up: bool) -> None:
        """Fail (``up`` False) or restore the link; BGP follows after its hold time or BFD detection (scaled).
        Raises StackError naming the link and the known ones when there is no such link."""
        ...

    def set_bfd(self, link_id: str, enabled: bool) -> None:
        """Turn BFD on or off on a Direct Connect link (the customer router's setting)."""
        ...

    def link_states(self) -> list[Mapping[str, Any]]:
        """Each link: link_id, site, region, kind, up (physical), advertised (BGP), events."""
        ...


@runtime_checkable
class InstanceProcesses(Protocol):
    """The processes that run EC2 instances (the ec2 part's checkout processes)."""

    def pid_of(self, instance_id: str) -> int | None:
        """The pid of the process running ``instance_id``; None when none runs it."""
        ...


@runtime_checkable
class ServiceRecords(Protocol):
    """DNS names a service owns outside any hosted zone (an RDS endpoint), served by the DNS server."""

    def set_service_record(self, fqdn: str, rtype: str, values: list[str], ttl_s: int) -> None:
        """Serve ``fqdn``; ``ttl_s`` in AWS seconds (the DNS server applies the time scale)."""
        ...

    def remove_service_record(self, fqdn: str) -> None:
        ...


@runtime_checkable
class ClientRoutedRecords(Protocol):
    """Service-owned names answered per client network: a CloudFront distribution's name, the edge nearest the client."""

    def set_routed_record(self, fqdn: str, rtype: str, by_network: Mapping[str, list[str]], default: list[str],
                          ttl_s: int) -> None:
        """Serve ``fqdn``: ``by_network`` maps a client network's name (a vantage point or a Region, where the DNS
        server places the ECS subnet or the resolver's address) to its values; any other client gets ``default``.
        ``ttl_s`` in AWS seconds."""
        ...

    def remove_routed_record(self, fqdn: str) -> None:
        ...


@runtime_checkable
class AcceleratorHealth(Protocol):
    """The live health of Global Accelerator endpoints, as the accelerator part's checks see it."""

    def health_of(self, endpoint_group_arn: str, endpoint_id: str) -> tuple[str, str] | None:
        """(HEALTHY or UNHEALTHY, reason) of the endpoint in the group; None before its first checks."""
        ...


@runtime_checkable
class DbStatus(Protocol):
    """The live status of the DB instances the data plane runs."""

    def status_of(self, db_instance_identifier: str, region: str) -> str | None:
        """The instance's status ("available", "rebooting", ...); None when no data plane runs it."""
        ...


@dataclass(frozen=True)
class MrscMember:
    """One Region of an MRSC global table: a replica or the witness, and whether replication reaches it."""

    region: str
    witness: bool
    reachable: bool  # False: its resource policy denies the replication role (FIS pause-replication)


@runtime_checkable
class StrongConsistency(Protocol):
    """The MRSC write and strongly consistent read path; the control plane keeps the items (moto).

    ``members()`` is read again whenever reachability matters. ``apply()`` runs the call on the local
    replica (moto) and returns its answer; ``replicate(target)`` copies the items the call wrote from the
    local replica to ``target``'s; ``catch_up(source, target)`` makes ``target``'s replica a copy of
    ``source``'s. Both methods raise stack.local.awserror.AwsError with AWS's code when AWS refuses.
    """

    def strong_write(self, table: str, region: str, keys: Sequence[str], members: Callable[[], Sequence[MrscMember]],
                     apply: Callable[[], ApiResponse], replicate: Callable[[str], None],
                     catch_up: Callable[[str, str], None]) -> ApiResponse:
        ...

    def strong_read(self, table: str, region: str, members: Callable[[], Sequence[MrscMember]],
                    apply: Callable[[], ApiResponse], catch_up: Callable[[str, str], None]) -> ApiResponse:
        ...


@runtime_checkable
class RdsStore(Protocol):
    """moto's RDS (and EC2 subnet) bookkeeping, as the control plane lends it to the RDS data plane.

    moto stays the store of every DB instance's configuration; the part reads and updates it through
    this interface only. ``model`` objects are moto's DBInstance objects, opaque to the part except for
    the attributes botocore's DBInstance shape names (``db_instance_identifier``, ``address``...).
    Every method raises the AwsError AWS would return (stack.local.awserror).
    """

    def parse(self, operation: str, params: Mapping[str, Any]) -> MutableMapping[str, Any]:
        """The control plane's flat query parameters, nested and typed as moto's backend names them."""
        ...

    def respond(self, operation: str, result: Mapping[str, Any]) -> ApiResponse:
        """``result`` (objects or dicts named as in botocore's output shape) as the operation's RDS XML."""
        ...

    def shown(self, model: Any, overrides: Mapping[str, Any]) -> Any:
        """``model`` with the data plane's live fields laid over it, for ``respond`` only."""
        ...

    def create(self, region: str, params: Mapping[str, Any]) -> Any:
        """Store a new DB instance (``parse``d CreateDBInstance parameters); its model."""
        ...

    def create_read_replica(self, region: str, params: Mapping[str, Any]) -> Any:
        """Store a new read replica (``parse``d CreateDBInstanceReadReplica parameters); its model."""
        ...

    def describe(self, region: str, identifier: str | None = None,
                 filters: Mapping[str, list[str]] | None = None) -> list[Any]:
        """The stored DB instances (one, or all matching ``filters``)."""
        ...

    def promote_read_replica(self, region: str, params: Mapping[str, Any]) -> Any:
        ...

    def restore_to_point_in_time(self, region: str, source: str, target: str, params: Mapping[str, Any]) -> Any:
        """Store the DB instance a point-in-time restore creates; its model."""
        ...

    def model(self, region: str, identifier: str) -> Any | None:
        """The stored DB instance, or None."""
        ...

    def update(self, region: str, identifier: str, **fields: Any) -> None:
        """Set fields of the stored DB instance (status, availability_zone...); nothing when it is gone."""
        ...

    def events(self, region: str) -> list[Any]:
        """moto's stored RDS events (snapshots' and others')."""
        ...

    def subnet_group_zones(self, region: str, name: str) -> dict[str, str]:
        """AZ -> subnet CIDR of a DB subnet group (the first subnet of each AZ)."""
        ...

    def taken_addresses(self, region: str, cidr: str) -> set[str] | None:
        """Addresses EC2 handed out in the subnet with ``cidr``; None when EC2 has no such subnet."""
        ...

    def reserve_address(self, region: str, cidr: str, address: str) -> None:
        """Reserve ``address`` in EC2's subnet ``cidr``, so EC2 never hands it out."""
        ...

    def release_address(self, region: str, address: str) -> None:
        """Give ``address`` back to whichever EC2 subnet holds it (nothing when the subnet is gone)."""
        ...


@dataclass(frozen=True)
class MetricSample:
    """One stored PutMetricData datum: a value (count 1), a statistic set, or Values with their Counts."""

    region: str
    namespace: str
    metric_name: str
    dimensions: frozenset[tuple[str, str]]
    timestamp_s: float  # epoch seconds (wall clock)
    unit: str | None
    sample_count: float
    sum: float
    minimum: float
    maximum: float
    values: tuple[float, ...]  # empty for a statistic set (no percentile can be drawn from it)
    counts: tuple[float, ...] = ()  # how often each of ``values`` occurred; empty: once each


@runtime_checkable
class MetricStore(Protocol):
    """CloudWatch's metric data and alarms as the control plane stores them (moto's store).

    ``alarms`` are dicts in botocore's MetricAlarm shape; a composite alarm also has ``AlarmRule``.
    State changes go through ``set_state`` only, which writes the alarm history as AWS does.
    """

    def regions(self) -> list[str]:
        ...

    def samples_after(self, region: str, cursor: int) -> tuple[list[MetricSample], int]:
        """The samples stored in ``region`` after position ``cursor``, and the new cursor (0 starts over)."""
        ...

    def alarms(self, region: str) -> list[Mapping[str, Any]]:
        ...

    def alarm_state(self, region: str, name: str) -> str | None:
        """OK, ALARM or INSUFFICIENT_DATA; None when there is no such alarm."""
        ...

    def set_state(self, region: str, name: str, state: str, reason: str, reason_data: str) -> bool:
        """Change the alarm's state, with a StateUpdate history item; False when unchanged or gone."""
        ...

    def record_action(self, region: str, name: str, summary: str, data: Mapping[str, Any]) -> None:
        """Write an Action history item (an alarm action run, or failed)."""
@dataclass(frozen=True, order=True, slots=True)  # slots: one is held per item per replica
class Stamp:
    """When a DynamoDB item write was made (monotonic seconds, in the stack's process), and where.

    Last writer wins by this order; the Region breaks an exact tie."""

    at: float
    region: str


@dataclass(frozen=True, slots=True)
class ItemWrite:
    """One item a global table's replica now holds: its key, its whole image (None: deleted), its stamp."""

    table: str
    region: str  # the replica that holds it
    key: Mapping[str, Any]  # DynamoDB JSON
    item: Mapping[str, Any] | None
    stamp: Stamp
    targets: tuple[str, ...] = ()  # a local write: the other replicas it is owed to
    expired: bool = False  # a delete made by the TTL sweep, not by a user


@runtime_checkable
class GlobalTableItems(Protocol):
    """The items of DynamoDB's global tables, as the control plane lends them to the DynamoDB part.

    The control plane stamps every successful user write to a global table and captures the items it
    wrote while it holds the table's lock in that Region; ``apply`` takes the same lock, so the
    last-writer-wins comparison and the write are one step against users' writes."""

    def listen(self, listener: Callable[[ItemWrite], None]) -> None:
        """Call ``listener`` with every local write to a global table (under the table's lock: be quick)."""
        ...

    def unlisten(self, listener: Callable[[ItemWrite], None]) -> None:
        ...

    def apply(self, write: ItemWrite) -> bool:
        """Apply a replicated write unless the replica holds a later stamp for the item; whether it was applied."""
        ...

    def replication_denied(self, table: str, region: str) -> bool:
        """Whether the replica's resource-based policy denies the replication service-linked role now."""
        ...

    def expire(self, now_epoch_s: float) -> int:
        """Delete the items whose TTL attribute is before ``now_epoch_s`` (tables with TTL enabled); how many."""
        ...


class Provider(Protocol):
    """What start-up ordering reads of a part class (class attributes: no instance exists yet)."""

    name: ClassVar[str]
    provides: ClassVar[tuple[type, ...]]
    requires: ClassVar[tuple[type, ...]]


class Services:
    """The registry: one provider per service, registered by the part (or the stack) that provides it."""

    def __init__(self) -> None:
        self._providers: dict[Kind[Any], tuple[str, Any]] = {}

    def provide(self, kind: Kind[Any], provider: object, by: str) -> None:
        """Register ``provider`` (named ``by``) for ``kind``. Raises StackError for a second provider or a wrong type.

        The provider's type is checked here, at run time (the Protocols are runtime_checkable), which is
        what lets ``require`` return it typed."""
        if kind in self._providers:
            raise StackError(f"{by} provides {kind.__name__}, which {self._providers[kind][0]} already provides; "
                             f"one provider per service")
        if not isinstance(kind, type):
            raise StackError(f"{by}: {kind!r} is not a service type (see stack.local.services)")
        if not isinstance(provider, kind):  # runtime_checkable: the methods exist
            raise StackError(f"{by} declares that it provides {kind.__name__} but lacks its methods")
        self._providers[kind] = (by, provider)

    def require(self, kind: Kind[T], needed_by: str) -> T:
        """The provider of ``kind``. Raises StackError naming the service and ``needed_by`` when there is none."""
        found = self._providers.get(kind)
        if found is None:
            raise StackError(f"{needed_by} requires the service {kind.__name__}, which nothing in this stack provides "
                             f"(provided: {', '.join(self.names()) or 'nothing'})")
        provider: T = found[1]
        return provider

    def find(self, kind: Kind[T]) -> T | None:
        """The provider of ``kind``, or None (for a caller that works without it)."""
        found = self._providers.get(kind)
        return found[1] if found is not None else None

    def provider_name(self, kind: Kind[Any]) -> str | None:
        found = self._providers.get(kind)
        return found[0] if found is not None else None

    def names(self) -> list[str]:
        return sorted(f"{kind.__name__} ({by})" for kind, (by, _) in self._providers.items())

    @property
    def kinds(self) -> frozenset[Kind[Any]]:
        return frozenset(self._providers)


P = TypeVar("P", bound=Provider)


def start_order(parts: Sequence[type[P]], available: Iterable[object] = (),
                known: Sequence[type[Provider]] = ()) -> list[type[P]]:
    """``parts`` in an order where every part starts after the providers of what it requires.

    ``available``: services already provided before any part starts (the control plane's). ``known``:
    every part there is, to name the one that would provide a missing service. Among parts free to
    start, the given order is kept. Raises StackError naming a required service no
    part provides (and who needs it), two parts providing one service, or a cycle.
    """
    already: set[object] = set(available)
    provider: dict[type, int] = {}
    for index, part in enumerate(parts):
        for kind in part.provides:
            if kind in provider or kind in already:
                other = parts[provider[kind]].name if kind in provider else "the stack"
                raise StackError(f"parts {other} and {part.name} both provide {kind.__name__}; one provider per service")
            provider[kind] = index
    needs: dict[int, set[int]] = {}
    for index, part in enumerate(parts):
        needs[index] = set()
        for kind in part.requires:
            if kind in already:
                continue
            if kind not in provider:
                could = [p.name for p in known if kind in p.provides]
                hint = f"; part {could[0]} provides it: start the stack with it" if could else ""
                raise StackError(f"part {part.name} requires the service {kind.__name__}, which no part in this stack "
                                 f"provides (parts: {', '.join(p.name for p in parts)}){hint}")
            if provider[kind] != index:
                needs[index].add(provider[kind])
    order: list[int] = []
    ready = [index for index, deps in needs.items() if not deps]
    heapq.heapify(ready)
    waiting = {index: set(deps) for index, deps in needs.items() if deps}
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for later, deps in list(waiting.items()):
            deps.discard(index)
            if not deps:
                del waiting[later]
                heapq.heappush(ready, later)
    if waiting:
        raise StackError(f"the parts' services form a cycle, so no start order exists: {_cycle(parts, waiting)}")
    return [parts[index] for index in order]


def _cycle(parts: Sequence[type[Provider]], waiting: Mapping[int, set[int]]) -> str:
    """One cycle among the ``waiting`` parts, as "a requires X of b, b requires Y of a"."""
    path: list[int] = []
    current = min(waiting)
    while current not in path:
        path.append(current)
        current = min(dep for dep in waiting[current] if dep in waiting)
    loop = path[path.index(current):] + [current]
    steps = []
    for a, b in itertools.pairwise(loop):
        kinds = [k.__name__ for k in parts[a].requires if k in parts[b].provides]
        steps.append(f"{parts[a].name} requires {'/'.join(kinds)} of {parts[b].name}")
    return "; ".join(steps)
