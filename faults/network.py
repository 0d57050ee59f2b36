"""Network faults, done the way AWS FIS's ``aws:network:disrupt-connectivity`` (scope ``all``) does them.

1. clone the subnet's NACL: a new NACL that allows traffic within the subnet and denies the rest,
   tagged with gameday's own tag (``gameday:fault``, never FIS's ``managedByFIS``: only FIS's own
   NACLs carry that) so ``gameday scan`` can find it;
2. swap the subnet's association to the clone;
3. on rollback, restore the original association and delete the clone.

With ``injector: fis`` the same fault runs as FIS's own ``aws:network:disrupt-connectivity`` (faults.fis).
"""
from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ClientError

from faults import fis, resources
from faults.base import FAULT_TAG, ClientFactory, Fault
from base import runid
from faults.guard import Caller, Guard, Resource
from faults.journal import Entry, Journal
from faults.plan import Call
from base.timeline import Timeline

ALLOW_SUBNET_RULE = 100
DENY_ALL_RULE = 200


def association_of(ec2: Any, subnet_id: str) -> tuple[str, str]:
    """(NACL id, association id) currently governing ``subnet_id``."""
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
    for acl in acls:
        for association in acl["Associations"]:
            if association["SubnetId"] == subnet_id:
                return acl["NetworkAclId"], association["NetworkAclAssociationId"]
    raise LookupError(f"subnet {subnet_id} has no network ACL association")


def _isolate(ec2: Any, subnet_id: str, entry_id: str, run_id: str, record: Callable[..., None]) -> None:
    """Swap ``subnet_id`` to a deny-all clone, calling ``record(**ids)`` before each step that needs undoing."""
    subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    original_acl, association = association_of(ec2, subnet_id)
    record(original_acl_id=original_acl)
    clone = ec2.create_network_acl(VpcId=subnet["VpcId"], TagSpecifications=[{
        "ResourceType": "network-acl",
        "Tags": [{"Key": FAULT_TAG, "Value": entry_id}, {"Key": runid.TAG, "Value": run_id},
                 {"Key": "Name", "Value": f"gameday-isolate-{subnet_id}"}]}])["NetworkAcl"]["NetworkAclId"]
    record(clone_acl_id=clone)
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=clone, RuleNumber=ALLOW_SUBNET_RULE, Protocol="-1",
                                     RuleAction="allow", Egress=egress, CidrBlock=subnet["CidrBlock"])
        ec2.create_network_acl_entry(NetworkAclId=clone, RuleNumber=DENY_ALL_RULE, Protocol="-1",
                                     RuleAction="deny", Egress=egress, CidrBlock="0.0.0.0/0")
    swapped = ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=clone)
    record(association_id=swapped["NewAssociationId"])


def _planned_restore(region: str, state: dict[str, Any]) -> list[Call]:
    return [Call("ec2", region, "ReplaceNetworkAclAssociation",
                 {"AssociationId": state.get("association_id"), "NetworkAclId": state.get("original_acl_id")}),
            Call("ec2", region, "DeleteNetworkAcl", {"NetworkAclId": state.get("clone_acl_id")})]


def _restore(ec2: Any, subnet_id: str, state: dict[str, Any]) -> None:
    """Give ``subnet_id`` its original NACL back and delete the clone; safe from any partial state."""
    original, clone = state.get("original_acl_id"), state.get("clone_acl_id")
    if original is None:
        return  # killed before anything changed
    current_acl, association = association_of(ec2, subnet_id)
    if current_acl != original:
        ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=original)
    if clone is not None:
        try:
            ec2.delete_network_acl(NetworkAclId=clone)
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidNetworkAclID.NotFound":
                raise


class IsolateAz(Fault):
    """Disable an Availability Zone: cut the stack's subnet in it off from everything outside it."""

    name = "network.isolate_az"
    fis_capable = True

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, availability_zone: str,
                 subnet_id: str, timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.availability_zone, self.subnet_id = region, availability_zone, subnet_id

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "availability_zone": self.availability_zone, "subnet_id": self.subnet_id}

    def discover(self, caller: Caller) -> list[Resource]:
        return resources.subnets(self.clients("ec2", self.region), self.region, [self.subnet_id], caller)

    def inject(self, entry: Entry) -> None:
        if self.injector == "fis":
            fis.inject(self, self.region, fis.disrupt_connectivity(self.targets(), fis.settings_of(self).max_duration_s))
            return
        _isolate(self.clients("ec2", self.region), self.subnet_id, entry.id, self.run_id,
                 lambda **ids: self.journal.progress(entry, **ids))

    def rollback(self, state: dict[str, Any]) -> None:
        if state.get("injector") == "fis":
            fis.rollback(self, state, stop=True)
            return
        _restore(self.clients("ec2", state["region"]), state["subnet_id"], state)

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        if state.get("injector") == "fis":
            return fis.planned_rollback(state, stop=True)
        return _planned_restore(state["region"], state), "re-reads the subnet's association first (DescribeNetworkAcls)"


class IsolateRegion(Fault):
    """Lose a Region: isolate every listed subnet in it; rollback restores all of them."""

    name = "network.isolate_region"
    fis_capable = True

    def __init__(self, clients: ClientFactory, journal: Journal, *, region: str, subnet_ids: list[str],
                 timeline: Timeline | None = None, guard: Guard | None = None) -> None:
        super().__init__(clients, journal, timeline, guard)
        self.region, self.subnet_ids = region, list(subnet_ids)

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "subnet_ids": self.subnet_ids}

    def discover(self, caller: Caller) -> list[Resource]:
        return resources.subnets(self.clients("ec2", self.region), self.region, self.subnet_ids, caller)

    def inject(self, entry: Entry) -> None:
        if self.injector == "fis":
            fis.inject(self, self.region, fis.disrupt_connectivity(self.targets(), fis.settings_of(self).max_duration_s))
            return
        ec2 = self.clients("ec2", self.region)
        for subnet_id in self.subnet_ids:
            key = f"subnet:{subnet_id}"

            def record(key: str = key, **ids: Any) -> None:
                self.journal.progress(entry, **{key: {**entry.state.get(key, {}), **ids}})

            _isolate(ec2, subnet_id, entry.id, self.run_id, record)

    def rollback(self, state: dict[str, Any]) -> None:
        if state.get("injector") == "fis":
            fis.rollback(self, state, stop=True)
            return
        ec2 = self.clients("ec2", state["region"])
        failures = []
        for subnet_id in state["subnet_ids"]:
            try:
                _restore(ec2, subnet_id, state.get(f"subnet:{subnet_id}", {}))
            except ClientError as error:
                failures.append(error)  # keep restoring the others; report the first failure after
        if failures:
            raise failures[0]

    def planned_rollback(self, state: dict[str, Any]) -> tuple[list[Call], str]:
        if state.get("injector") == "fis":
            return fis.planned_rollback(state, stop=True)
        calls = [call for subnet_id in state["subnet_ids"]
                 for call in _planned_restore(state["region"], state.get(f"subnet:{subnet_id}", {}))]
        return calls, "re-reads each subnet's association first (DescribeNetworkAcls)"
