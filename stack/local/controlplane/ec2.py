"""EC2 rules AWS enforces and moto does not (AWS-SEMANTICS.md, "EC2 network ACLs")."""
from __future__ import annotations

from typing import Any, Callable

from stack.local.controlplane import backends
from stack.local.controlplane.awserror import AwsError
from stack.local.part import ApiRequest


def _network_acl(request: ApiRequest, acl_id: str | None) -> Any:
    acl = backends.ec2(request.region).network_acls.get(acl_id)
    if acl is None:
        raise AwsError("InvalidNetworkAclID.NotFound", f"The networkAcl ID '{acl_id}' does not exist")
    return acl


def replace_network_acl_association(request: ApiRequest, plane: Any) -> None:
    # moto removes the old association before it looks up the new NACL, so both ids are checked
    # here first: a bad request must change nothing.
    association_id = request.params.get("AssociationId")
    acls = backends.ec2(request.region).network_acls.values()
    if not any(association_id in acl._associations for acl in acls):
        raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")
    _network_acl(request, request.params.get("NetworkAclId"))


def _entry(request: ApiRequest, plane: Any) -> None:
    acl = _network_acl(request, request.params.get("NetworkAclId"))
    raw = request.params.get("RuleNumber")
    if raw is None or not str(raw).isdigit() or not 1 <= int(raw) <= 32766:
        raise AwsError("InvalidParameterValue", f"RuleNumber must be an integer from 1 to 32766, got {raw!r}")
    action = request.params.get("RuleAction")
    if action not in ("allow", "deny"):
        raise AwsError("InvalidParameterValue", f"RuleAction must be 'allow' or 'deny', got {action!r}")
    egress = str(request.params.get("Egress", "false")).lower() == "true"
    exists = any(int(e.rule_number) == int(raw) and str(e.egress).lower() == str(egress).lower()
                 for e in acl.network_acl_entries)
    if request.operation == "CreateNetworkAclEntry" and exists:
        raise AwsError("NetworkAclEntryAlreadyExists",
                       f"The network acl entry identified by {raw} already exists in {'egress' if egress else 'ingress'} of {acl.id}")


VALIDATE: dict[str, Callable[[ApiRequest, Any], None]] = {
    "ReplaceNetworkAclAssociation": replace_network_acl_association,
    "CreateNetworkAclEntry": _entry,
    "ReplaceNetworkAclEntry": _entry,
}
AFTER: dict[str, Callable[[ApiRequest, Any], None]] = {}
