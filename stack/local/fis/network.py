"""The FIS network actions, done with network ACLs, which the local fabric enforces.

``aws:network:disrupt-connectivity`` does what FIS does on AWS: for each target subnet it clones the
subnet's network ACL into a new one tagged ``managedByFIS=true`` with deny entries first, swaps the
subnet's association to the clone, and at the end swaps it back and deletes the clone. Scopes:

- ``all``: everything in and out of the subnet is denied, except traffic within the subnet (the clone
  allows the subnet's own CIDR; the NACL's implicit last rule denies the rest);
- ``availability-zone``: traffic to and from the VPC's subnets in other Availability Zones is denied,
  the original entries decide the rest.

The scopes ``dynamodb``, ``s3``, ``s3-express`` and ``prefix-list`` deny AWS service prefix lists. The
local stack's AWS services answer at its API endpoint, outside the fabric, so no NACL can cut them:
the action fails with that reason instead of pretending.

``aws:network:route-table-disrupt-cross-region-connectivity`` on AWS swaps the subnet's route table
for one without routes to the other Region. The fabric routes by address and enforces NACLs, not
route tables, so locally the same traffic is cut by a NACL clone that denies the other Region's VPC
CIDRs (in and out: a connection without a route back fails the same way).
"""
from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stack.local.fis.actions import ActionFailed, Run

FIRST_RULE = 1
LAST_RULE = 32766  # 32767 is the implicit deny of every NACL
SERVICE_SCOPES = ("dynamodb", "s3", "s3-express", "prefix-list")


@dataclass(frozen=True)
class Swap:
    subnet_id: str
    original_acl: str
    clone_acl: str


def _association(ec2: Any, subnet_id: str) -> tuple[dict[str, Any], str]:
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
    for acl in acls:
        for association in acl["Associations"]:
            if association["SubnetId"] == subnet_id:
                return acl, association["NetworkAclAssociationId"]
    raise ActionFailed(f"subnet {subnet_id} has no network ACL association")


def _associations(ec2: Any, subnet_ids: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
    """Subnet id -> (its NACL, the association id), for every subnet at once."""
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}])["NetworkAcls"]
    found = {a["SubnetId"]: (acl, a["NetworkAclAssociationId"]) for acl in acls for a in acl["Associations"]}
    missing = [s for s in subnet_ids if s not in found]
    if missing:
        raise ActionFailed(f"subnet {', '.join(missing)} has no network ACL association")
    return found


def _clone(run: Run, ec2: Any, subnet: Mapping[str, Any], current: tuple[dict[str, Any], str], denies: list[str],
           allow_own: bool, keep_original: bool, swaps: list[Swap]) -> None:
    """Swap ``subnet`` from its ``current`` (NACL, association) to a clone with deny entries for ``denies`` first."""
    original, association = current
    clone = ec2.create_network_acl(VpcId=subnet["VpcId"], TagSpecifications=[{"ResourceType": "network-acl", "Tags": [
        {"Key": "managedByFIS", "Value": "true"}, {"Key": "fis:experiment", "Value": run.experiment_id},
        {"Key": "Name", "Value": f"fis-{run.name}-{subnet['SubnetId']}"}]}])["NetworkAcl"]["NetworkAclId"]
    swap = Swap(subnet["SubnetId"], original["NetworkAclId"], clone)
    swaps.append(swap)  # from here on the clone is ours to delete, whatever fails next
    first = [("allow", subnet["CidrBlock"])] if allow_own else []
    first += [("deny", cidr) for cidr in denies]
    entries = [{"RuleNumber": FIRST_RULE + offset, "Protocol": "-1", "RuleAction": action, "Egress": egress,
                "CidrBlock": cidr} for egress in (False, True) for offset, (action, cidr) in enumerate(first)]
    if keep_original:
        for entry in original.get("Entries") or ():
            number = entry["RuleNumber"] + len(first)
            if entry["RuleNumber"] > LAST_RULE or "CidrBlock" not in entry:
                continue  # the implicit deny comes with the clone; IPv6 entries are not enforced locally
            if number > LAST_RULE:
                raise ActionFailed(f"network ACL {original['NetworkAclId']}: rule {entry['RuleNumber']} cannot move "
                                   f"after {len(first)} deny entries (rule numbers end at {LAST_RULE})")
            extra = {k: entry[k] for k in ("PortRange", "IcmpTypeCode") if k in entry}
            entries.append({"RuleNumber": number, "Protocol": entry["Protocol"], "RuleAction": entry["RuleAction"],
                            "Egress": entry["Egress"], "CidrBlock": entry["CidrBlock"], **extra})
    # Each call returns once the fabric has read the Region again; made together, they share those reads.
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(entries)))) as pool:
        for done in [pool.submit(ec2.create_network_acl_entry, NetworkAclId=clone, **entry) for entry in entries]:
            done.result()
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=clone)
    run.log.info("%s: subnet %s now on %s (was %s)", run.name, subnet["SubnetId"], clone, original["NetworkAclId"])


def _restore(run: Run, ec2: Any, swaps: list[Swap]) -> None:
    """Give each subnet its original NACL back and delete the clones; keeps going past a failure, raises the first."""
    failures = []
    for swap in reversed(swaps):
        try:
            current, association = _association(ec2, swap.subnet_id)
            if current["NetworkAclId"] == swap.clone_acl:
                ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=swap.original_acl)
            ec2.delete_network_acl(NetworkAclId=swap.clone_acl)
        except Exception as error:  # noqa: BLE001 - restore the others first
            run.log.exception("%s: restoring subnet %s", run.name, swap.subnet_id)
            failures.append(error)
    if failures:
        raise failures[0]


def _disrupt(run: Run, denies_of: Any, allow_own: bool, keep_original: bool) -> None:
    ec2 = run.clients("ec2", run.region)
    arns = run.targets.get("Subnets", [])
    # Target resolution has read the subnets already; only what it did not read is described again.
    subnets = [run.described[arn] for arn in arns if arn in run.described]
    unread = [arn.rsplit("/", 1)[-1] for arn in arns if arn not in run.described]
    if unread:
        subnets += ec2.describe_subnets(SubnetIds=unread)["Subnets"]
    current = _associations(ec2, [s["SubnetId"] for s in subnets])
    seconds = run.duration_wall_s()
    assert seconds is not None
    swaps: list[Swap] = []
    try:
        # The subnets are cut together, as FIS does; whatever one of them did is undone below if another fails.
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(subnets)))) as pool:
            for done in [pool.submit(lambda s: _clone(run, ec2, s, current[s["SubnetId"]], denies_of(ec2, s), allow_own,
                                                      keep_original, swaps), subnet) for subnet in subnets]:
                done.result()
        run.applied()
        run.wait(seconds)
    finally:
        _restore(run, ec2, swaps)


def disrupt_connectivity(run: Run) -> None:
    scope = run.parameters.get("scope", "all")
    if scope in SERVICE_SCOPES:
        raise ActionFailed(f"scope {scope} is not emulated locally: the local stack's AWS services answer at its API "
                           f"endpoint, outside the fabric, so no network ACL can cut them; scopes run here: "
                           f"all, availability-zone")
    if scope == "all":
        # A new NACL denies everything (its implicit rule *): allowing the subnet's own CIDR is the whole
        # clone, and each entry saved is one fabric sync less before the cut is in force.
        _disrupt(run, lambda ec2, subnet: [], allow_own=True, keep_original=False)
        return

    def other_zones(ec2: Any, subnet: Mapping[str, Any]) -> list[str]:
        siblings = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]}])["Subnets"]
        return [s["CidrBlock"] for s in siblings if s["AvailabilityZone"] != subnet["AvailabilityZone"]]

    _disrupt(run, other_zones, allow_own=False, keep_original=True)


def disrupt_cross_region(run: Run) -> None:
    target = run.parameters["region"]
    if target == run.region:
        raise ActionFailed(f"region {target} is the experiment's own Region; name another Region")
    try:
        vpcs = run.clients("ec2", target).describe_vpcs()["Vpcs"]
    except Exception as error:  # noqa: BLE001 - an unknown Region is the action's failure
        raise ActionFailed(f"region {target}: cannot read its VPCs ({error})") from None
    cidrs = sorted({v["CidrBlock"] for v in vpcs})
    _disrupt(run, lambda ec2, subnet: cidrs, allow_own=False, keep_original=True)
