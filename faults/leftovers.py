"""After a killed run: roll back what the journal says is still injected, and scan for leftovers.

``recover`` trusts the journal. ``scan`` trusts nothing but the API: it finds what a fault may have
left even when the journal is gone (another machine, a deleted home directory). For aws environments
both run over every allowed Region, after the guard has checked the caller's account (gameday.cli).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from base.clients import ClientFactory
from faults import REGISTRY
from faults.base import FAULT_TAG
from faults.fis import TERMINAL
from faults import journal as journal_
from base import runid
from base.errors import GamedayError
from faults.plan import Call
from stack import topology as topology_



@dataclass(frozen=True)
class Recovered:
    entry_id: str
    fault: str
    params: dict[str, Any]
    outcome: str  # "rolled back" or "failed: <why>"


def _ordered(target: str, directory: Path | None) -> list[tuple[Path, journal_.Entry]]:
    """Open entries in the order to undo them: faults first, in journal order; then runbook steps newest first
    (the writer name goes back before the replica is rebuilt), once no fault cuts the paths they need."""
    entries = list(journal_.open_entries(target, directory))
    steps = [item for item in entries if getattr(REGISTRY.get(item[1].fault), "runbook_step", False)]
    return [item for item in entries if item not in steps] + steps[::-1]


def recover(target: str, clients: ClientFactory, directory: Path | None = None) -> list[Recovered]:
    results = []
    for path, entry in _ordered(target, directory):
        fault = REGISTRY.get(entry.fault)
        if fault is None:
            results.append(Recovered(entry.id, entry.fault, entry.params, f"failed: unknown fault {entry.fault!r}"))
            continue
        try:
            fault.restore(clients, {**entry.params, **entry.state})
        except Exception as error:  # report every entry; one failure must not hide the others
            results.append(Recovered(entry.id, entry.fault, entry.params, f"failed: {error}"))
            continue
        journal_.mark_recovered(path, entry, "recovered")
        results.append(Recovered(entry.id, entry.fault, entry.params, "rolled back"))
    return results


def planned_recovery(target: str, directory: Path | None = None) -> list[tuple[Recovered, list[Call], str]]:
    """What ``recover`` would do, entry by entry, with no call made (``gameday recover --dry-run``)."""
    planned: list[tuple[Recovered, list[Call], str]] = []
    for _, entry in _ordered(target, directory):
        fault = REGISTRY.get(entry.fault)
        if fault is None:
            planned.append((Recovered(entry.id, entry.fault, entry.params, f"failed: unknown fault {entry.fault!r}"), [], ""))
            continue
        calls, note = fault.planned_restore({**entry.params, **entry.state})
        planned.append((Recovered(entry.id, entry.fault, entry.params, "would roll back"), calls, note))
    return planned


@dataclass(frozen=True)
class Leftover:
    kind: str
    region: str
    resource: str
    detail: str


def _fis_leftovers(fis: Any, region: str) -> list[Leftover]:
    """FIS templates and unfinished experiments that gameday created (tagged gameday:fault)."""
    found = []
    for page in fis.get_paginator("list_experiment_templates").paginate():
        for template in page["experimentTemplates"]:
            tags = template.get("tags") or {}
            if FAULT_TAG in tags:
                found.append(Leftover("fis-experiment-template", region, template["id"],
                                      f"template of run {tags.get(runid.TAG, '?')} ({FAULT_TAG}={tags[FAULT_TAG]})"))
    for page in fis.get_paginator("list_experiments").paginate():
        for experiment in page["experiments"]:
            tags = experiment.get("tags") or {}
            status = experiment.get("state", {}).get("status", "")
            if FAULT_TAG in tags and status not in TERMINAL:
                found.append(Leftover("fis-experiment", region, experiment["id"],
                                      f"{status} experiment of run {tags.get(runid.TAG, '?')}"))
    return found


def _all(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated Describe call (one page holds at most MaxResults of them)."""
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page[key]]


def scan(clients: ClientFactory, regions: list[str], stack_tag: tuple[str, str]) -> list[Leftover]:
    found: list[Leftover] = []
    stack_filter = [{"Name": f"tag:{stack_tag[0]}", "Values": [stack_tag[1]]}]
    for region in regions:
        ec2 = clients("ec2", region)
        acls = _all(ec2, "describe_network_acls", "NetworkAcls")
        for acl in acls:
            tags = {t["Key"]: t["Value"] for t in acl.get("Tags", [])}
            subnets = ", ".join(a["SubnetId"] for a in acl["Associations"]) or "no subnet"
            if FAULT_TAG in tags:
                found.append(Leftover("network-acl", region, acl["NetworkAclId"],
                                      f"fault NACL ({FAULT_TAG}={tags[FAULT_TAG]}) associated with {subnets}"))
            elif tags.get("managedByFIS") == "true":  # FIS's own (injector: fis), left by a stopped experiment
                found.append(Leftover("network-acl", region, acl["NetworkAclId"],
                                      f"NACL created by AWS FIS (managedByFIS=true) associated with {subnets}"))
        stack_vpcs = {v["VpcId"] for v in _all(ec2, "describe_vpcs", "Vpcs", Filters=stack_filter)}
        defaults = {a["VpcId"]: a["NetworkAclId"] for a in acls if a.get("IsDefault")}
        for acl in acls:
            if acl["VpcId"] in stack_vpcs and not acl.get("IsDefault"):
                for association in acl["Associations"]:
                    found.append(Leftover("swapped-association", region, association["SubnetId"],
                                          f"associated with {acl['NetworkAclId']}, not the VPC's default "
                                          f"{defaults.get(acl['VpcId'], '?')}"))
        found += _fis_leftovers(clients("fis", region), region)
        stopped = _all(ec2, "describe_instances", "Reservations", Filters=stack_filter + [
            {"Name": "instance-state-name", "Values": ["stopped", "stopping"]}])
        for reservation in stopped:
            for instance in reservation["Instances"]:
                found.append(Leftover("stopped-instance", region, instance["InstanceId"],
                                      f"{instance['State']['Name']} in {instance['Placement']['AvailabilityZone']}"))
    route53 = clients("route53", "us-east-1")
    for page in route53.get_paginator("list_health_checks").paginate():
        for check in page["HealthChecks"]:
            if check["HealthCheckConfig"].get("Inverted"):
                found.append(Leftover("inverted-health-check", "global", check["Id"],
                                      f"Inverted=true ({check['HealthCheckConfig'].get('IPAddress', '')}:"
                                      f"{check['HealthCheckConfig'].get('Port', '')})"))
    return found


def topology(clients: ClientFactory, spec: topology_.Spec, nameserver: tuple[str, int] | None) -> list[Leftover]:
    """How the DR topology differs from ``spec``, and acknowledged orders that only a non-writer copy holds
    (read through the endpoints). Nothing, when no part of the stack was built."""
    try:
        if topology_.describe(clients, spec.writer) is None and (
                spec.replica is None or topology_.describe(clients, spec.replica) is None):
            return []
        found = [Leftover(d.kind, d.region, d.resource, d.detail) for d in topology_.drift(clients, spec)]
    except (ClientError, BotoCoreError) as error:  # e.g. AccessDenied: say what was not read, keep the rest of scan
        return [Leftover("topology-unread", spec.writer.region, spec.writer.identifier, str(error))]
    try:
        orphaned = topology_.orphans(clients, spec, nameserver)
    except (GamedayError, ClientError, BotoCoreError) as error:  # unknown is not "none": say so
        return found + [Leftover("orders-unread", spec.replica.region if spec.replica else "?",
                                 spec.replica.identifier if spec.replica else "?", str(error))]
    return found + [Leftover("split-brain-order", spec.replica.region if spec.replica else "?", o.order_id,
                             f"acknowledged ({o.client_order_id or 'no client id'}, {o.created_at}) only on {o.copy}, "
                             f"not on the writer {spec.writer.identifier}") for o in orphaned]
