"""``Route53Part``: the DNS server and health checker behind the local stack's Route 53 API.

The part reads what it serves through ``context.client("route53")``, the same API a user sees: every
route53 mutation the control plane notifies wakes a refresher thread that re-reads hosted zones,
record sets and health checks, builds fresh indexes and swaps them in whole. Notifications that
arrive during a refresh are coalesced into one more refresh, so a change is served within one
refresh (milliseconds) of its notification, well inside one scaled second.

Threads: the supervisor's (``start``/``stop``/``status``), the control plane's (``on_change``,
``answers``), the refresher (blocking boto3 calls) and one event loop running the DNS server and the
health checker together, so answering a query never contends with a checker thread.
"""
from __future__ import annotations

import gc
import logging
import random
import threading
from typing import Any, ClassVar, Mapping

import dns.rdatatype

from stack.local.part import ApiHandler, ApiRequest, ApiResponse, Change, Health, PartContext
from stack.local.route53 import api
from stack.local.route53.catalog import SERVICE_ZONE_ID, ZoneCatalog
from stack.local.route53.changes import ChangeTracker, change_id_of
from stack.local.route53.checker import HealthChecker
from stack.local.geography import sites_for
from stack.local.route53.dirty import Dirty, Scope
from stack.local.route53.errors import RecordError, Route53Error
from stack.local.route53.healthcheck import CheckType, HealthCheckSpec
from stack.local.route53.loop import LoopThread
from stack.local.route53.network import NetworkMap
from stack.local.route53.probe import Probe, Prober
from stack.local.route53.records import RecordSet, parse_name
from stack.local.route53.responder import Responder
from stack.local.route53.routing import resolve
from stack.local.route53.server import DnsServer
from stack.local.route53.zone import Zone
from stack.local.services import ClientRoutedRecords, MetricStore, ServiceRecords

RETRY_S = 1.0
HEALTH_CHECK_OPERATIONS = frozenset({"CreateHealthCheck", "UpdateHealthCheck", "DeleteHealthCheck"})
UNKNOWN_CHECK_WAIT_S = 2.0  # how long an answer waits for a pending refresh before saying NoSuchHealthCheck


class Route53Part:
    name: ClassVar[str] = "route53"
    provides: ClassVar[tuple[type, ...]] = (ServiceRecords, ClientRoutedRecords)
    requires: ClassVar[tuple[type, ...]] = ()

    def __init__(self, probe: Probe | None = None, max_in_flight: int = 64) -> None:
        self._probe = probe
        self._max_in_flight = max_in_flight
        self._context: PartContext | None = None
        self._loop: LoopThread | None = None
        self._server: DnsServer | None = None
        self._refresher: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._problems: tuple[str, ...] = ()  # records and health checks stored in the API but not served
        self._refresh_error: str | None = None  # why the last read of the control plane failed, until one works
        self._specs: dict[str, HealthCheckSpec] = {}
        self._client: Any = None
        self._dirty = Dirty()
        self._zone_problems: dict[str, list[str]] = {}
        self._check_problems: list[str] = []
        self.changes = ChangeTracker()
        self.catalog = ZoneCatalog()
        self.checker: HealthChecker | None = None
        self.responder: Responder | None = None

    # --- lifecycle

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """Nothing outlives the part: its sockets and threads die with the supervisor."""
        return []

    def start(self, context: PartContext) -> None:
        """Bind the DNS server, start the checker and read the current state.

        Raises Route53Error when the DNS address cannot be bound.
        """
        self._context = context
        self._stopping.clear()
        env = context.environment
        log = context.log
        scale = context.timescale
        self.checker = HealthChecker(
            sites_for=lambda regions: sites_for(context.instance, regions),
            default_regions=tuple(env.health_checker_regions),
            scale=scale,
            probe=self._probe or Prober(scale, resolve=self._resolve_ipv4),
            max_in_flight=self._max_in_flight,
            log=log,
            alarm_state=alarms.alarm_state if (alarms := context.find(MetricStore)) is not None else None,
        )
        checker = self.checker
        self.responder = Responder(lambda: self.catalog.zones, checker.healthy, NetworkMap.from_environment(env),
                                   scale, log=log, version=lambda: (self.catalog.version, checker.version))
        self._loop = LoopThread("route53")
        self._server = DnsServer(self.responder, context.instance.control_host, context.instance.dns_port, log)
        try:
            self._loop.run(self._server.start())
        except Exception:
            self._loop.stop()
            self._loop = None
            raise
        generation = self.changes.begin()
        try:
            self._refresh(self._dirty.take())
            self.changes.served(generation)
        except Exception as error:  # noqa: BLE001 - the control plane may come up after us; keep retrying
            log.warning("route53: first read of the control plane failed (%s); retrying in the background", error)
            self._refresh_error = f"{type(error).__name__}: {error}"
            self._dirty.add(Scope(everything=True))
            self.changes.request()
        self._refresher = threading.Thread(target=self._refresh_loop, name="route53-refresh", daemon=True)
        self._refresher.start()
        # A full collection walks every object in the process (moto's and botocore's models among them),
        # stalling the DNS loop 40-290 ms at a time (measured with benchmarks/bench_dns.py). What exists now
        # lives as long as the process; freezing it keeps it out of every later collection (process-wide,
        # and harmless: frozen objects are still freed by reference counting).
        gc.freeze()
        if self.changes.pending:
            self._wake.set()

    def stop(self) -> None:
        """Close the sockets, stop the checker and the threads. Safe to call twice."""
        self._stopping.set()
        self._wake.set()
        if self._refresher is not None:
            self._refresher.join(10)
            self._refresher = None
        if self._loop is not None:
            try:
                if self._server is not None:
                    self._loop.run(self._server.stop())
                if self.checker is not None:
                    self._loop.run(self.checker.stop())
            finally:
                self._loop.stop()
                self._loop = None
                self._server = None

    # --- control-plane hooks

    def on_change(self, change: Change) -> None:
        request = change.request
        if request.service != "route53":
            return
        if request.operation == "ChangeResourceRecordSets":
            zone_id = str(request.params.get("HostedZoneId") or request.params.get("Id")
                          or api.path_id(request.path, "hostedzone")).rsplit("/", 1)[-1]
            self._dirty.add(Scope(zones=frozenset({zone_id})) if zone_id else Scope(everything=True))
        elif request.operation in HEALTH_CHECK_OPERATIONS:
            self._dirty.add(Scope(checks=True))
        else:
            self._dirty.add(Scope(everything=True))
        self.changes.request(change_id_of(change.response_body))
        self._wake.set()

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {
            ("route53", "GetHealthCheckStatus"): self._get_health_check_status,
            ("route53", "GetHealthCheckLastFailureReason"): self._get_last_failure_reason,
            ("route53", "GetChange"): self._get_change,
        }

    def status(self) -> Mapping[str, Any]:
        checker = self.checker
        host, port = self.dns_address
        checks = {}
        for check_id, spec in sorted(self._specs.items()):
            observed = checker.observations(check_id) if checker else []
            checks[check_id] = {
                "type": spec.check_type.value,
                "healthy": checker.healthy(check_id) if checker else None,
                "inverted": spec.inverted,
                "disabled": spec.disabled,
                "checkers_reporting_healthy": f"{sum(o.success for o in observed)}/{len(observed)}",
            }
        zones = self.catalog.zones
        return {
            "dns": f"{host}:{port}",
            "zones": sorted(z.apex.to_text() for z in self.catalog.hosted),
            "service_zones": sorted(z.apex.to_text() for z in zones.zones.values() if z.zone_id == SERVICE_ZONE_ID),
            "health_checks": checks,
            "queries": _snapshot(self.responder.counts) if self.responder else {},
            "changes_pending": self.changes.pending,
            "problems": list(self._problems),
        }

    def health(self) -> Health:
        reasons = [] if self._server is not None else ["the DNS server is not running"]
        if self._refresh_error is not None:
            reasons.append(f"serving stale zones: reading the control plane fails (retrying every {RETRY_S:g} s): "
                           f"{self._refresh_error}")
        return Health.of(reasons + [f"not served: {problem}" for problem in self._problems])

    # --- the ServiceRecords service (stack.local.services), and the DNS address for tests

    @property
    def dns_address(self) -> tuple[str, int]:
        if self._server is None:
            raise Route53Error("route53: the DNS server is not running; start the part first")
        return self._server.address

    def set_service_record(self, fqdn: str, rtype: str, values: list[str], ttl_s: int) -> None:
        """Serve a service-owned name (an RDS endpoint, say) outside any hosted zone. Raises RecordError.

        ``ttl_s`` is in AWS seconds, as in a hosted zone: the DNS server scales it when it answers."""
        self.catalog.set_service_record(fqdn, rtype, values, ttl_s)

    def remove_service_record(self, fqdn: str) -> None:
        self.catalog.remove_service_record(fqdn)

    def set_routed_record(self, fqdn: str, rtype: str, by_network: Mapping[str, list[str]], default: list[str],
                          ttl_s: int) -> None:
        """The ClientRoutedRecords service: a service-owned name answered per client network. Raises RecordError."""
        self.catalog.set_routed_record(fqdn, rtype, by_network, default, ttl_s)

    def remove_routed_record(self, fqdn: str) -> None:
        self.catalog.remove_service_record(fqdn)

    def wait_in_sync(self, timeout_s: float = 5.0) -> bool:
        """Wait until every notified change is served; False on timeout."""
        return self.changes.wait(timeout_s)

    # --- refreshing from the control plane

    def _refresh_loop(self) -> None:
        log = self._log
        retry = False
        while not self._stopping.is_set():
            self._wake.wait(RETRY_S if retry else None)
            if self._stopping.is_set():
                return
            self._wake.clear()
            generation = self.changes.begin()
            scope = self._dirty.take()
            try:
                self._refresh(scope)
            except Exception as error:  # noqa: BLE001 - keep serving the last good state and try again
                log.warning("route53: refresh from the control plane failed: %s", error)
                self._refresh_error = f"{type(error).__name__}: {error}"
                self._dirty.add(scope)
                retry = True
                continue
            retry = False
            self._refresh_error = None
            self.changes.served(generation)

    @property
    def client(self) -> Any:
        """The boto3 route53 client the part reads the control plane through (made once)."""
        return self._client_once()

    def _client_once(self) -> Any:
        if self._context is None:
            raise Route53Error("route53: the part has no context; start it first")
        if self._client is None:
            # One client for the part's life: building one costs ~0.5 s here, far more than a refresh.
            self._client = self._context.client("route53")
        return self._client

    def _refresh(self, scope: Scope | None = None) -> None:
        """Re-read what ``scope`` says changed (everything when None) and swap it in."""
        assert self._loop is not None and self.checker is not None
        scope = scope or Scope(everything=True)
        client = self._client_once()
        current = {zone.zone_id: zone for zone in self.catalog.hosted}
        if scope.everything or any(zone_id not in current for zone_id in scope.zones):
            self._zone_problems = {}
            zones = self._read_zones(client)
        else:
            # A record change touches one zone: one call instead of re-listing everything.
            for zone_id in scope.zones:
                current[zone_id] = self._read_zone(client, zone_id, current[zone_id].apex.to_text())
            zones = list(current.values())
        if scope.everything or scope.zones:
            self.catalog.replace_hosted(zones)
        if scope.everything or scope.checks:
            specs, problems = [], []
            for page in client.get_paginator("list_health_checks").paginate():
                for data in page["HealthChecks"]:
                    try:
                        specs.append(HealthCheckSpec.from_api(data))
                    except Route53Error as error:
                        problems.append(str(error))
            self._specs = {s.id: s for s in specs}
            self._check_problems = problems
            self._loop.run(self._apply_checks(specs))
        problems = [p for zone_problems in self._zone_problems.values() for p in zone_problems] + self._check_problems
        if problems != list(self._problems):
            for problem in problems:
                self._log.warning("route53: %s", problem)
        self._problems = tuple(problems)

    def _read_zones(self, client: Any) -> list[Zone]:
        hosted_zones = [h for page in client.get_paginator("list_hosted_zones").paginate() for h in page["HostedZones"]]
        public = {h["Name"].lower() for h in hosted_zones if not (h.get("Config") or {}).get("PrivateZone")}
        zones = []
        for hosted in hosted_zones:
            name = hosted["Name"]
            zone_id = hosted["Id"].rsplit("/", 1)[-1]
            if (hosted.get("Config") or {}).get("PrivateZone") and name.lower() in public:
                # This server answers everyone alike (no VPC view); the public zone of the same name wins.
                self._zone_problems[zone_id] = [f"zone {name}: private zone {zone_id} not served; a public zone has its name"]
                continue
            zones.append(self._read_zone(client, zone_id, name))
        return zones

    def _read_zone(self, client: Any, zone_id: str, name: str) -> Zone:
        problems = []
        records = []
        for page in client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
            for data in page["ResourceRecordSets"]:
                try:
                    records.append(RecordSet.from_api(data))
                except RecordError as error:
                    problems.append(f"zone {name}: {error}")
        zone = Zone.build(parse_name(name), zone_id, records)
        self._zone_problems[zone_id] = problems + [f"zone {name}: {p}" for p in zone.problems]
        return zone

    async def _apply_checks(self, specs: list[HealthCheckSpec]) -> None:
        assert self.checker is not None
        self.checker.update(specs)

    @property
    def _log(self) -> logging.Logger:
        return self._context.log if self._context else logging.getLogger(__name__)

    def _resolve_ipv4(self, fqdn: str) -> str | None:
        """A health check's FullyQualifiedDomainName, resolved through the zones this part serves."""
        try:
            name = parse_name(fqdn)
        except RecordError:
            return None
        healthy = self.checker.healthy if self.checker else (lambda _: True)
        resolution = resolve(self.catalog.zones, name, dns.rdatatype.A, healthy, None, random.Random())
        for rrset in resolution.answer:
            if rrset.rtype == dns.rdatatype.A and rrset.rdatas:
                return rrset.rdatas[0].to_text()
        return None

    # --- answers

    def _check_for(self, request: ApiRequest) -> tuple[HealthCheckSpec | None, ApiResponse | None]:
        check_id = str(request.params.get("HealthCheckId") or api.path_id(request.path, "healthcheck"))
        if check_id not in self._specs and self.changes.pending:
            self.changes.wait(UNKNOWN_CHECK_WAIT_S)  # it may have been created a moment ago
        spec = self._specs.get(check_id)
        if spec is None:
            return None, api.error(404, "NoSuchHealthCheck", f"No health check exists with the ID {check_id}")
        if spec.check_type is CheckType.CALCULATED:
            return None, api.error(400, "InvalidInput", f"Health check {check_id} is a calculated health check; "
                                   "GetHealthCheckStatus does not report calculated health checks")
        return spec, None

    def _get_health_check_status(self, request: ApiRequest) -> ApiResponse:
        spec, failure = self._check_for(request)
        if failure is not None or spec is None or self.checker is None:
            return failure or api.error(404, "NoSuchHealthCheck", "the health checker is not running")
        return api.observations("GetHealthCheckStatusResponse", self.checker.observations(spec.id))

    def _get_last_failure_reason(self, request: ApiRequest) -> ApiResponse:
        spec, failure = self._check_for(request)
        if failure is not None or spec is None or self.checker is None:
            return failure or api.error(404, "NoSuchHealthCheck", "the health checker is not running")
        return api.observations("GetHealthCheckLastFailureReasonResponse", self.checker.last_failures(spec.id))

    def _get_change(self, request: ApiRequest) -> ApiResponse:
        change_id = str(request.params.get("Id") or api.path_id(request.path, "change")).rsplit("/", 1)[-1]
        if not change_id:
            return api.error(400, "InvalidInput", "GetChange needs a change Id such as /change/C2682N5HXP0BZ4")
        status, submitted = self.changes.status(change_id)
        return api.change_info(change_id, status, submitted)


def _snapshot(counts: Mapping[str, int]) -> dict[str, int]:
    """A copy of counters another thread is updating (a new key can appear mid-copy: try again)."""
    for _ in range(5):
        try:
            return dict(counts)
        except RuntimeError:
            continue
    return {}
