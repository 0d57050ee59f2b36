"""``FabricPart``: the fabric as a part of the local stack (stack.local.part.Part).

It owns the fabric process, keeps it in step with EC2 (subnets and NACLs read through boto3 from
the local endpoint, the same API a user sees) and provides other parts the ``Network`` service
(stack.local.services: ``expose``, ``unexpose`` and ``register_process``).

Failure is loud. A NACL entry the fabric cannot parse is skipped (the rest of every Region stays
enforced), logged with the entry, and reported by ``health()`` until it is deleted or replaced. The
EC2 call that changed subnets or NACLs waits, bounded, until its Region is enforced (a failed read is
retried meanwhile), and fails (ChangeNotApplied) when it is not, or when its own entry is one the
fabric skipped. Sync errors are kept per Region: one Region's failure is not another's call's.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from environments.model import LocalEnvironment
from environments.sites import link_ids
from stack.local.fabric import firewall
from stack.local.fabric.acl import SkippedEntry
from stack.local.fabric.client import FabricClient
from stack.local.fabric.errors import FabricError
from stack.local.fabric.process import FabricProcess
from stack.local.fabric.topology import ExternalSource, Subnet, Topology
from stack.local.instance import Instance
from stack.local.part import ApiHandler, Change, ChangeNotApplied, Health, PartContext
from stack.local.services import Network, SiteLinks, Toxics
from stack.local.geography import checker_links

# EC2 operations after which subnets or NACLs must be read again.
SUBNET_OPERATIONS = frozenset({"CreateSubnet", "DeleteSubnet"})
NACL_OPERATIONS = frozenset({
    "CreateNetworkAcl", "CreateNetworkAclEntry", "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry",
    "DeleteNetworkAcl", "ReplaceNetworkAclAssociation",
})
ENTRY_OPERATIONS = frozenset({"CreateNetworkAclEntry", "ReplaceNetworkAclEntry"})
SYNC_TIMEOUT_S = 10.0
RETRY_S = 1.0


def external_sources(environment: LocalEnvironment, instance: Instance) -> tuple[ExternalSource, ...]:
    """Vantage points and Route 53 health checkers: the clients that live outside every VPC.

    Checker subnets and their RTTs come from the checker geography Route 53 uses too
    (stack.local.geography), so a checker's probe is delayed by the same figures the checker expects.
    """
    sources = [ExternalSource(name, vp.network, dict(vp.rtt_ms)) for name, vp in environment.vantage_points.items()]
    sources += [ExternalSource(f"checker-{link.region}", ipaddress.IPv4Network(link.cidr), dict(link.rtt_ms))
                for link in checker_links(environment, instance)]
    # CloudFront's edge locations fetch from origins from their own address (stack.local.cloudfront).
    sources += [ExternalSource(f"edge-{code}", ipaddress.IPv4Network(f"{edge.address}/32"), dict(edge.rtt_ms))
                for code, edge in environment.edge_locations.items()]
    sources += [ExternalSource(name, site.network, dict(site.rtt_ms), site=True) for name, site in environment.sites.items()]
    return tuple(sources)


def site_links(environment: LocalEnvironment, bfd: Mapping[str, bool]) -> list[dict[str, Any]]:
    """The environment's site links as the fabric's set_site_links takes them: timings scaled to wall seconds."""
    scale = environment.timescale
    return [{"link_id": f"{site_name}/{name}", "site": site_name, "region": link.region, "kind": link.type,
             "preference": link.route_preference, "added_delay_ms": link.added_rtt_ms / 2.0,
             "jitter_ms": link.jitter_ms, "detection_s": scale.to_wall(link.detection_s(bfd.get(f"{site_name}/{name}")))}
            for site_name, site in environment.sites.items() for name, link in site.links.items()]


def table_name(instance: Instance) -> str:
    """The nftables table of the instance's kernel path (firewall.py)."""
    return f"gameday_fabric_{instance.number}"


class FabricPart:
    name: ClassVar[str] = "fabric"
    provides: ClassVar[tuple[type, ...]] = (Network, Toxics, SiteLinks)
    requires: ClassVar[tuple[type, ...]] = ()

    def __init__(self, loop: str = "uvloop", kernel_drop: bool | None = None) -> None:
        """``kernel_drop``: also drop denied handshakes with nftables (firewall.py); None uses it where root and nft are."""
        self._loop = loop
        self._kernel_drop = firewall.available() is None if kernel_drop is None else kernel_drop
        self.process: FabricProcess | None = None
        self.context: PartContext | None = None
        self.log = logging.getLogger("gameday.fabric.part")
        self._sources: tuple[ExternalSource, ...] = ()
        self._subnets: dict[str, list[Subnet]] = {}
        self._acls: dict[str, list[Mapping[str, Any]]] = {}
        self._ec2: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[str, set[str]] = {}  # Region -> what to read again ("subnets", "nacls")
        self._retry: dict[str, set[str]] = {}  # the same, for Regions whose sync failed, due at _retry_at
        self._retry_at = 0.0
        self._requested = 0  # generation of the latest request_sync
        self._wanted: dict[str, int] = {}  # Region -> generation of its latest request
        self._synced: dict[str, int] = {}  # Region -> generation of its latest successful sync
        self._condition = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = False
        # Region -> why its last sync failed. Per Region: a failure in one must not fail calls in another.
        self.errors: dict[str, str] = {}
        self._skipped: tuple[tuple[str, SkippedEntry], ...] = ()  # (Region, entry) from the last NACL push
        self._toxics: dict[str, list[dict[str, Any]]] = {}  # node address -> its toxics
        self._toxics_lock = threading.Lock()
        self._outpost_sites: dict[str, str] = {}  # Outpost ARN -> the site it stands at: its subnets are there
        self._bfd: dict[str, bool] = {}  # link id -> BFD switched at run time (set_bfd), over the environment's

    # -- Part protocol ---------------------------------------------------------------------------

    @staticmethod
    def cleanup_leftovers(context: PartContext) -> list[str]:
        """A killed fabric's process carries the stack's marker; its nftables table would stay and drop handshakes."""
        if firewall.available() is not None:
            return []
        firewall.remove_table(table_name(context.instance))
        return []

    def start(self, context: PartContext) -> None:
        """Spawn the fabric, give it the environment's sources and RTTs, and read EC2 in the background.

        Raises FabricError (with the fabric's log) when the process does not come up.
        """
        self.context = context
        self.log = context.log
        env = context.environment
        self._sources = external_sources(env, context.instance)
        self._outpost_sites = {o.arn(env.account_id): o.site for o in env.outposts.values()}
        table = table_name(context.instance) if self._kernel_drop else ""
        self.process = FabricProcess(context.state_dir / self.name, loop=self._loop, kernel_drop=table,
                                     zygote=context.zygote)
        try:
            self.process.start()
            self._push_topology()
            self._push_site_links()
        except BaseException:
            self.stop()
            raise
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=2 * len(env.regions), thread_name_prefix="fabric-ec2")
        self._worker = threading.Thread(target=self._work, name="fabric-sync", daemon=True)
        self._worker.start()
        self.request_sync(env.regions, ("subnets", "nacls"))

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._worker is not None:
            self._worker.join(SYNC_TIMEOUT_S)
            self._worker = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.process is not None:
            self.process.stop()
            self.process = None

    def answers(self) -> Mapping[tuple[str, str], ApiHandler]:
        return {}

    def on_change(self, change: Change) -> None:
        """Re-read the Region after a subnet or NACL change and wait until it is enforced.

        The wait (bounded by SYNC_TIMEOUT_S) is what makes "the call returned" mean "enforced": a
        fault that swaps a NACL association relies on it at once. Raises ChangeNotApplied when the
        fabric could not apply the change, or skipped the very entry the call created or replaced.
        """
        request = change.request
        if request.service != "ec2":
            return
        if request.operation in SUBNET_OPERATIONS:
            self.request_sync([request.region], ("subnets", "nacls"))
        elif request.operation in NACL_OPERATIONS:
            self.request_sync([request.region], ("nacls",))
        else:
            return
        try:
            self.wait_synced([request.region])
        except FabricError as error:
            raise ChangeNotApplied(self.name, str(error)) from None
        if request.operation in ENTRY_OPERATIONS:
            mine = [entry for _, entry in self._skipped if _is_requested(entry, request.params)]
            if mine:
                raise ChangeNotApplied(self.name, f"the entry is skipped, not enforced (delete or replace it): {mine[0].reason}")

    def status(self) -> Mapping[str, Any]:
        if self.process is None or not self.process.running:
            return {"running": False}
        try:
            return {"running": True, "last_sync_error": self.last_error, "sync_errors": dict(self.errors),
                    **self.process.client.stats()}
        except FabricError as error:
            return {"running": False, "error": str(error)}

    def health(self) -> Health:
        if self.process is None or not self.process.running:
            return Health.of(["the fabric process is not running: no NACL is enforced"])
        reasons = [f"{region}: cannot apply EC2's subnets and NACLs (retrying every {RETRY_S:g} s): {error}"
                   for region, error in sorted(self.errors.items())]
        reasons += [f"{region} {entry.acl_id}: entry skipped, not enforced: {entry.reason}"
                    for region, entry in self._skipped]
        return Health.of(reasons)

    # -- for other parts -----------------------------------------------------------------------

    def expose(self, address: str, port: int, backend: str) -> int:
        """Make ``backend`` (``unix:/path`` or ``tcp:127.0.0.1:<port>``) reachable on ``address:port``.

        Returns the bound port (the kernel's pick when ``port`` is 0). Raises FabricError.
        """
        return self._client().expose(address, port, backend)

    def unexpose(self, address: str, port: int) -> None:
        self._client().unexpose(address, port)

    def register_process(self, address: str, pid: int) -> None:
        """Connections from ``pid`` and its descendants come from the node at ``address``. Raises FabricError."""
        self._client().register_process(address, pid)

    def set_toxics(self, address: str, toxics: Sequence[Mapping[str, Any]]) -> None:
        """Replace the toxics on the node at ``address`` (the Toxics service). Raises FabricError (a bad toxic too)."""
        with self._toxics_lock:
            wanted = dict(self._toxics)
            if toxics:
                wanted[address] = [{**toxic, "address": address} for toxic in toxics]
            else:
                wanted.pop(address, None)
            self._client().request("set_toxics", toxics=[t for node in wanted.values() for t in node])
            self._toxics = wanted

    def stats(self) -> dict[str, Any]:
        return self._client().stats()

    def set_link_state(self, link_id: str, up: bool) -> None:
        """Fail or restore a site link (the SiteLinks service). Raises FabricError naming the known links."""
        self._client().set_link_state(link_id, up)

    def set_bfd(self, link_id: str, enabled: bool) -> None:
        assert self.context is not None
        if link_id not in link_ids(self.context.environment.sites):
            raise FabricError(f"set_bfd: no site link {link_id!r}; known: {link_ids(self.context.environment.sites)}")
        self._bfd[link_id] = enabled
        self._push_site_links()

    def link_states(self) -> list[Mapping[str, Any]]:
        return list(self._client().stats().get("site_links", []))

    def _push_site_links(self) -> None:
        assert self.context is not None
        self._client().set_site_links(site_links(self.context.environment, self._bfd))

    # -- keeping in step with EC2 --------------------------------------------------------------

    @property
    def last_error(self) -> str | None:
        """Every Region's sync error, or None when each Region's last sync succeeded."""
        errors = dict(self.errors)
        return "; ".join(f"{region}: {error}" for region, error in sorted(errors.items())) or None

    def request_sync(self, regions: Iterable[str], what: Iterable[str]) -> None:
        """Read ``what`` ("subnets", "nacls") again in ``regions`` and push it, on the sync thread."""
        with self._condition:
            self._requested += 1
            for region in regions:
                self._pending.setdefault(region, set()).update(what)
                self._wanted[region] = self._requested
            self._condition.notify_all()

    def wait_synced(self, regions: Iterable[str] | None = None, timeout_s: float = SYNC_TIMEOUT_S) -> None:
        """Wait until every change notified so far in ``regions`` (None: all) is enforced.

        A failed sync is retried every RETRY_S within the wait, so a transient failure does not
        fail the caller; another Region's failure is not this caller's. Raises FabricError naming
        the Region's last error when it is not synced within ``timeout_s``.
        """
        with self._condition:
            targets = {region: self._wanted.get(region, 0)
                       for region in (self._wanted if regions is None else regions)}

            def done() -> bool:
                return all(self._synced.get(region, 0) >= target for region, target in targets.items())

            if self._condition.wait_for(lambda: done() or self._stopping, timeout_s) and done():
                return
            errors = {region: self.errors[region] for region in sorted(targets) if region in self.errors}
        if errors:
            raise FabricError("the fabric could not read EC2: " + "; ".join(f"{r}: {e}" for r, e in errors.items()))
        raise FabricError(f"the fabric did not apply EC2's subnets and NACLs within {timeout_s} s")

    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and not self._pending and not self._retry_due():
                    self._condition.wait(max(0.0, self._retry_at - time.monotonic()) if self._retry else None)
                if self._stopping:
                    return
                if self._retry_due():
                    for region, what in self._retry.items():
                        self._pending.setdefault(region, set()).update(what)
                    self._retry = {}
                pending, self._pending = self._pending, {}
                for region in pending:
                    self._retry.pop(region, None)  # read now, for a new request
                generation = self._requested
            failed = self._sync(pending)
            with self._condition:
                for region in pending:
                    if region in failed:
                        self.errors[region] = failed[region]
                        # The endpoint may not be up yet (or is restarting): read the same again later,
                        # without holding up the other Regions' calls meanwhile.
                        self._retry.setdefault(region, set()).update(pending[region])
                        self._retry_at = time.monotonic() + RETRY_S
                    else:
                        self.errors.pop(region, None)
                        self._synced[region] = generation
                self._condition.notify_all()
            if failed:
                self.log.warning("fabric sync failed (retrying in %s s): %s", RETRY_S,
                                 "; ".join(f"{r}: {e}" for r, e in sorted(failed.items())))

    def _retry_due(self) -> bool:
        return bool(self._retry) and time.monotonic() >= self._retry_at

    def _sync(self, pending: Mapping[str, set[str]]) -> dict[str, str]:
        """Read and push ``pending``; returns the error of each Region that failed (the others are enforced)."""
        assert self._pool is not None
        futures = {}
        for region, what in pending.items():
            if "subnets" in what:
                futures[(region, "subnets")] = self._pool.submit(self._describe, region, "describe_subnets", "Subnets")
            if "nacls" in what:
                futures[(region, "nacls")] = self._pool.submit(self._describe, region, "describe_network_acls", "NetworkAcls")
        failed: dict[str, str] = {}
        read: list[tuple[str, str, list[Mapping[str, Any]]]] = []
        for (region, kind), future in futures.items():
            try:
                read.append((region, kind, future.result()))
            except Exception as error:  # noqa: BLE001 - a failed read must not kill the sync thread
                failed[region] = f"{type(error).__name__}: {error}"
        for region, kind, items in read:
            if region in failed:
                continue  # half a Region (its subnets without its NACLs) is not applied
            if kind == "subnets":
                self._subnets[region] = [
                    Subnet(s["SubnetId"], ipaddress.IPv4Network(s["CidrBlock"]), region, s.get("AvailabilityZone", ""),
                           self._outpost_sites.get(str(s.get("OutpostArn", "")), ""))
                    for s in items
                ]
            else:
                self._acls[region] = items
        applied = {(region, what) for region, what, _ in read if region not in failed}
        try:
            if any(what == "subnets" for _, what in applied):
                self._push_topology()
            if any(what == "nacls" for _, what in applied):
                result = self._client().set_nacls([acl for acls in self._acls.values() for acl in acls])
                self._note_skipped([SkippedEntry(str(item.get("acl_id", "")), dict(item.get("entry") or {}),
                                                 str(item.get("reason", ""))) for item in result.get("skipped", [])])
        except Exception as error:  # noqa: BLE001 - the fabric process failed: nothing read is enforced
            failed.update({region: f"{type(error).__name__}: {error}" for region in pending})
        return failed

    def _note_skipped(self, skipped: list[SkippedEntry]) -> None:
        region_of = {str(acl.get("NetworkAclId")): region for region, acls in self._acls.items() for acl in acls}
        found = tuple((region_of.get(entry.acl_id, "?"), entry) for entry in skipped)
        for region, entry in found:
            if (region, entry) not in self._skipped:  # once per entry, not on every sync
                self.log.error("fabric: %s %s: skipped a NACL entry it cannot enforce: %s", region, entry.acl_id,
                               entry.reason)
        self._skipped = found

    def _describe(self, region: str, operation: str, key: str) -> list[Mapping[str, Any]]:
        client = self._ec2.get(region)
        if client is None:
            assert self.context is not None
            client = self._ec2[region] = self.context.client("ec2", region)
        items: list[Mapping[str, Any]] = []
        for page in client.get_paginator(operation).paginate():
            items.extend(page[key])
        return items

    def _push_topology(self) -> None:
        assert self.context is not None
        subnets = tuple(s for region in sorted(self._subnets) for s in self._subnets[region])
        self._client().set_topology(Topology(subnets, self._sources, self.context.environment.region_rtt_ms))

    def _client(self) -> FabricClient:
        if self.process is None:
            raise FabricError("the fabric part is not started; call start() first")
        return self.process.client


def _is_requested(entry: SkippedEntry, params: Mapping[str, Any]) -> bool:
    """Whether a skipped entry is the one a Create/ReplaceNetworkAclEntry call named (NACL, number, direction)."""
    return (entry.acl_id == str(params.get("NetworkAclId"))
            and str(entry.entry.get("RuleNumber")) == str(params.get("RuleNumber"))
            and str(entry.entry.get("Egress")).lower() == str(params.get("Egress", "false")).lower())
